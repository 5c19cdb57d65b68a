// The network graph (vendored cytoscape.js). Data comes from a JSON script block, never from
// markup; labels are set as text by cytoscape (it draws on a canvas), so names cannot inject.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var holder = document.getElementById("graph");
    var source = document.getElementById("graph-data");
    if (!holder || !source || typeof cytoscape === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var elements = data.nodes.map(function (n) { return { data: { id: n.id, label: n.label, href: n.href } }; })
      .concat(data.edges.map(function (e, i) { return { data: { id: "e" + i, source: e.source, target: e.target, weight: e.weight } }; }));
    var graph = cytoscape({
      container: holder,
      elements: elements,
      style: [
        { selector: "node", style: { "label": "data(label)", "font-size": 10, "background-color": "#1f618d", "color": "#17202a", "text-wrap": "ellipsis", "text-max-width": 140 } },
        { selector: "edge", style: { "width": "mapData(weight, 0, 10, 1, 6)", "line-color": "#aab7b8" } }
      ],
      layout: { name: "cose", animate: false }
    });
    graph.on("tap", "node", function (event) {
      var href = event.target.data("href");
      if (href && href.charAt(0) === "/" && href.charAt(1) !== "/") { window.location.assign(href); }
    });
    holder.setAttribute("data-ready", String(graph.nodes().length));
  });
})();
