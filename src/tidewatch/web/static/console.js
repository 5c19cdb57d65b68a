// The console's only script besides the vendored libraries (no inline script anywhere:
// the Content-Security-Policy forbids it). Keyboard shortcuts for the review queue, and
// media that stays blurred until clicked.
(function () {
  "use strict";

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#queue tr.queue-row")); }
  var selectedId = null;
  // By id, not by class: a row swapped in by htmx has no "selected" class until it settles,
  // and a fast typist's next key must still reach it.
  function selected() {
    var byId = selectedId && document.getElementById(selectedId);
    return byId || document.querySelector("#queue tr.queue-row.selected");
  }
  function select(row) {
    rows().forEach(function (r) { r.classList.remove("selected"); });
    if (row) { row.classList.add("selected"); row.focus({ preventScroll: false }); selectedId = row.id; }
  }
  function move(step) {
    var all = rows(); if (!all.length) { return; }
    var index = all.indexOf(selected());
    select(all[Math.max(0, Math.min(all.length - 1, index + step))]);
  }
  function choose(decision) {
    var row = selected(); if (!row) { return; }
    var form = row.querySelector("form.decide"); if (!form) { return; }
    var decisionSelect = form.querySelector("select.decision");
    decisionSelect.value = decision;
    filterReasons(form);
    form.querySelector("select.reason").focus();
  }
  function filterReasons(form) {
    var decision = form.querySelector("select.decision").value;
    var reason = form.querySelector("select.reason");
    var first = null;
    Array.prototype.forEach.call(reason.options, function (option) {
      var fits = option.getAttribute("data-decision") === decision;
      option.hidden = !fits; option.disabled = !fits;
      if (fits && first === null) { first = option; }
    });
    if (reason.selectedOptions.length === 0 || reason.selectedOptions[0].disabled) { reason.value = first ? first.value : ""; }
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("form.decide select.decision")) { filterReasons(event.target.form); }
  });
  // A claimed or decided row is swapped in place: keep it selected, its form ready.
  document.addEventListener("htmx:afterSettle", function () {
    document.querySelectorAll("form.decide").forEach(filterReasons);
    var row = selectedId && document.getElementById(selectedId);
    if (row) { select(row); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.decide").forEach(filterReasons);
    if (rows().length) { select(rows()[0]); }
    document.querySelectorAll("figure.blurred").forEach(function (figure) {
      function reveal() { figure.classList.remove("blurred"); }
      figure.addEventListener("click", reveal);
      figure.addEventListener("keydown", function (e) { if (e.key === "Enter") { reveal(); } });
    });
  });
  // A form htmx has just swapped in is bound to its hx-post only once htmx settles it; an
  // Enter pressed before that would submit it natively, as a GET of the queue page (seen in
  // the browser tests). Binding it first is idempotent: htmx skips a form already bound.
  function submitDecision(form) {
    if (window.htmx) { window.htmx.process(form); }
    form.requestSubmit();
  }
  document.addEventListener("keydown", function (event) {
    if (!document.getElementById("queue")) { return; }
    var tag = (event.target.tagName || "").toLowerCase();
    if ((tag === "input" || tag === "textarea") || event.ctrlKey || event.metaKey || event.altKey) { return; }
    // Enter on a link or a button keeps its own meaning (open, claim, decide).
    if (event.key === "Enter" && (tag === "a" || tag === "button")) { return; }
    if (tag === "select") {
      // A select does not submit its form on Enter by itself; in the queue it should.
      var decide = event.target.closest("form.decide");
      if (event.key === "Enter" && decide) { event.preventDefault(); submitDecision(decide); }
      return;
    }
    var row = selected();
    switch (event.key) {
      case "j": move(1); break;
      case "k": move(-1); break;
      case "c": if (row) { var claim = row.querySelector("button.claim"); if (claim) { claim.click(); } } break;
      case "a": choose("advert"); break;
      case "n": choose("not_advert"); break;
      case "m": choose("needs_more"); break;
      case "Enter": if (row) { var form = row.querySelector("form.decide"); if (form) { submitDecision(form); } else { return; } } else { return; } break;
      case "o": if (row) { window.location.assign(row.getAttribute("data-href")); } break;
      default: return;
    }
    event.preventDefault();
  });
})();
