"""The link job: ``tidewatch link`` on Spark, from the scan job's output.

The per-post work runs the single-machine code inside ``mapInArrow``: selectors
(:func:`tidewatch.link.selectors.selectors_in`) and MinHash signatures (the same rensa
hashing, permutations and seed as :mod:`tidewatch.link.templates`). What spans posts is
done with joins:

* template clusters: each of the 16 bands of 4 MinHash values is a bucket key; every post
  of a bucket is compared with the bucket's representative (its smallest post key) and
  joined to it at an estimated Jaccard similarity of 0.6 or more; clusters are connected
  components. This is :func:`~tidewatch.link.templates.template_clusters` with posts in key
  order, so the clusters are the same.
* selector edges: a selector's users and flagged users are counted; the same rules as
  :func:`~tidewatch.link.networks.build_networks` drop common and mostly benign selectors
  and weigh the rest by rarity.
* networks: connected components of the edges that reach ``min_edge``.

Connected components are an iterative join (each node takes the smallest label among its
neighbours until no label changes): GraphFrames' Python package ships without its JVM
library, which comes from Maven, and Maven cannot be reached from every cluster.

Where ``tidewatch link`` takes "the first" of something in database order (the three
posts shown as a selector's evidence, a template's example text), this job takes the first
in post-key order; the networks, their members, links, weights and everything else agree.
Account risk and re-emergence are not computed here (they need removal observations from the
database): run them after ``tidewatch ingest --detections``.

Output under ``OUT``: ``networks/`` (id, size, model_version and the network as
``tidewatch link`` writes it, in JSON, less its links), ``links/`` (network_id and one link
as ``tidewatch link`` writes it, in JSON: a row each) and ``membership/`` (network, platform,
account). Links are rows of their own because a network's links are unbounded: generated data
at 1,000,000 posts made one network of 89,534 accounts and 1.7 million links, a 785 MB
document that no executor could build as one row. :func:`tidewatch.scale.home.read_networks`
puts the documents back together.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tidewatch.link.networks import LinkSettings, network_id

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column, DataFrame, SparkSession

_SEP = "\x1f"  # between platform and id in a node name: neither contains it
_MAX_ITERATIONS = 100


@dataclass
class LinkSummary:
    posts: int = 0
    networks: int = 0
    accounts_in_networks: int = 0
    iterations: int = 0
    model_version: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "posts": self.posts,
            "networks": self.networks,
            "accounts_in_networks": self.accounts_in_networks,
            "iterations": self.iterations,
            "model_version": self.model_version,
        }


def _node(platform: Column, native: Column) -> Column:
    from pyspark.sql import functions as F

    return F.concat_ws(_SEP, platform, native)


def _label(node: str) -> str:
    return node.replace(_SEP, ":", 1)


# --- executors -------------------------------------------------------------------------


def selector_rows(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(account, selector, order, where) for every selector in every post and profile."""
    import pyarrow as pa

    from tidewatch.link.selectors import selectors_in

    schema = pa.schema(
        [
            ("account", pa.string()),
            ("selector", pa.string()),
            ("order", pa.string()),
            ("where", pa.string()),
        ]
    )
    for batch in batches:
        out: dict[str, list[str]] = {name: [] for name in schema.names}
        for row in batch.to_pylist():
            if row["is_post"]:
                found = selectors_in(row["text"], row["lang"] or "")
                where, order = _label(row["key"]), "0" + row["key"]
            else:
                profile = row["text"]
                found = selectors_in(profile) if profile.strip() else set()
                where, order = "profile", "1"
            for selector in found:
                out["account"].append(row["account"])
                out["selector"].append(str(selector))
                out["order"].append(order)
                out["where"].append(where)
        yield pa.RecordBatch.from_pydict(out, schema=schema)


def signature_rows(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The MinHash signature of every post with enough shingles to be a template."""
    import pyarrow as pa

    from tidewatch.link.templates import MIN_SHINGLES, _signatures, shingles

    schema = pa.schema([("key", pa.string()), ("sig", pa.list_(pa.int64()))])
    for batch in batches:
        keys: list[str] = []
        sets: list[list[str]] = []
        for key, text in zip(
            batch.column("key").to_pylist(), batch.column("text").to_pylist(), strict=True
        ):
            grams = shingles(text)
            if len(grams) >= MIN_SHINGLES:
                keys.append(key)
                sets.append(sorted(grams))
        signatures = _signatures(sets, 1).astype("int64").tolist() if sets else []
        yield pa.RecordBatch.from_pydict({"key": keys, "sig": signatures}, schema=schema)


def selector_edges(
    batches: Iterable[pa.RecordBatch], total: int, settings: LinkSettings
) -> Iterator[pa.RecordBatch]:
    """Pairs of flagged accounts sharing a selector, with its weight, by the rules of
    :func:`~tidewatch.link.networks.build_networks`."""
    import pyarrow as pa

    for batch in batches:
        out: dict[str, list[Any]] = {name: [] for name in _EDGE_FIELDS}
        for row in batch.to_pylist():
            users, candidates = row["users"], sorted(row["candidates"], key=lambda c: c["account"])
            benign_share = 1 - len(candidates) / users
            if (
                len(candidates) < 2
                or users > settings.max_share
                or benign_share > settings.max_benign_share
            ):
                continue
            weight = math.log(total / users)
            for i, a in enumerate(candidates):
                for b in candidates[i + 1 :]:
                    posts = a["wheres"][:3] + b["wheres"][:3]
                    _edge(out, a["account"], b["account"], "0" + row["selector"], "selector")
                    out["value"].append(row["selector"].replace(_SEP, ":", 1))
                    out["weight"].append(weight)
                    out["posts"].append(posts)
        yield pa.RecordBatch.from_pydict(out, schema=_edge_schema())


def template_edges(
    batches: Iterable[pa.RecordBatch], settings: LinkSettings
) -> Iterator[pa.RecordBatch]:
    """Pairs of flagged accounts that posted one advert template."""
    import pyarrow as pa

    for batch in batches:
        out: dict[str, list[Any]] = {name: [] for name in _EDGE_FIELDS}
        for row in batch.to_pylist():
            members = sorted(row["members"], key=lambda m: m["key"])
            adverts = sum(m["label"] == "advert" for m in members)
            if adverts / len(members) < 1 - settings.max_benign_share:
                continue
            owners = sorted({m["account"] for m in members if m["risky"]})
            example = members[0]["text"][:140]
            shown = [_label(m["key"]) for m in members[:6]]
            for i, a in enumerate(owners):
                for b in owners[i + 1 :]:
                    _edge(out, a, b, "1" + members[0]["key"], "template")
                    out["value"].append(example)
                    out["weight"].append(settings.template_weight)
                    out["posts"].append(shown)
        yield pa.RecordBatch.from_pydict(out, schema=_edge_schema())


_EDGE_FIELDS = ("a", "b", "order", "kind", "value", "weight", "posts")


def _edge_schema() -> pa.Schema:
    import pyarrow as pa

    return pa.schema(
        [
            ("a", pa.string()),
            ("b", pa.string()),
            ("order", pa.string()),
            ("kind", pa.string()),
            ("value", pa.string()),
            ("weight", pa.float64()),
            ("posts", pa.list_(pa.string())),
        ]
    )


def _edge(out: dict[str, list[Any]], a: str, b: str, order: str, kind: str) -> None:
    out["a"].append(a)
    out["b"].append(b)
    out["order"].append(order)
    out["kind"].append(kind)


def weigh_links(batches: Iterable[pa.RecordBatch], min_edge: float) -> Iterator[pa.RecordBatch]:
    """Each pair's evidence in the order ``build_networks`` adds it (selectors in selector
    order, then templates in cluster order), summed in that order so weights agree to the
    last bit; pairs under ``min_edge`` are dropped."""
    import pyarrow as pa

    schema = pa.schema([("a", pa.string()), ("b", pa.string()), ("link", pa.string())])
    for batch in batches:
        out: dict[str, list[str]] = {"a": [], "b": [], "link": []}
        for row in batch.to_pylist():
            evidence = sorted(row["evidence"], key=lambda e: e["order"])
            weight = 0.0
            for item in evidence:
                weight += item["weight"]
            if weight < min_edge:
                continue
            link = {
                "a": _label(row["a"]),
                "b": _label(row["b"]),
                "weight": round(weight, 3),
                "evidence": [
                    {
                        "kind": e["kind"],
                        "value": e["value"],
                        "weight": round(e["weight"], 3),
                        "posts": e["posts"],
                    }
                    for e in evidence
                ],
            }
            out["a"].append(row["a"])
            out["b"].append(row["b"])
            out["link"].append(json.dumps(link, ensure_ascii=False))
        yield pa.RecordBatch.from_pydict(out, schema=schema)


def _members(row: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((m[0], m[1]) for m in (m.split(_SEP, 1) for m in row["members"]))


def network_ids(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """(component, network id) for each network's members."""
    import pyarrow as pa

    schema = pa.schema([("net", pa.string()), ("id", pa.string())])
    for batch in batches:
        rows = batch.to_pylist()
        ids = [network_id(_members(row)) for row in rows]
        yield pa.RecordBatch.from_pydict(
            {"net": [row["net"] for row in rows], "id": ids}, schema=schema
        )


def network_documents(batches: Iterable[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Each network as ``tidewatch link`` writes it (:meth:`Network.to_json`), with its links
    left empty: they are written as rows of their own."""
    import pyarrow as pa

    from tidewatch.link.networks import Network

    schema = pa.schema([("id", pa.string()), ("size", pa.int64()), ("document", pa.string())])
    for batch in batches:
        out: dict[str, list[Any]] = {"id": [], "size": [], "document": []}
        for row in batch.to_pylist():
            members = _members(row)
            network = Network(
                id=network_id(members),
                accounts=members,
                platforms=sorted({p for p, _ in members}),
                languages=sorted(row["languages"] or ()),
                selectors=sorted(s.replace(_SEP, ":", 1) for s in row["selectors"] or ()),
                templates=row["templates"] or 0,
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                links=[],
            )
            out["id"].append(network.id)
            out["size"].append(len(members))
            out["document"].append(json.dumps(network.to_json(), ensure_ascii=False))
        yield pa.RecordBatch.from_pydict(out, schema=schema)


# --- driver ----------------------------------------------------------------------------


def components(edges: DataFrame) -> tuple[DataFrame, int]:
    """(node, component) for every node of ``edges`` (columns src, dst): the component is its
    smallest node. Iterative min-label propagation; returns the iterations it took."""
    from pyspark.sql import functions as F

    both = (
        edges.select("src", "dst")
        .union(edges.select(F.col("dst").alias("src"), F.col("src").alias("dst")))
        .distinct()
        .localCheckpoint()
    )
    labels = (
        both.groupBy("src")
        .agg(F.least(F.min("dst"), F.first("src")).alias("label"))
        .withColumnRenamed("src", "node")
        .localCheckpoint()
    )
    for iteration in range(1, _MAX_ITERATIONS + 1):
        offered = both.join(labels, both.src == labels.node).select(
            F.col("dst").alias("node"), "label"
        )
        updated = (
            offered.union(labels.select("node", "label"))
            .groupBy("node")
            .agg(F.min("label").alias("label"))
            .localCheckpoint()
        )
        changed = (
            updated.alias("n")
            .join(labels.alias("o"), "node")
            .where(F.col("n.label") != F.col("o.label"))
            .limit(1)
            .count()
        )
        labels = updated
        if not changed:
            return labels.withColumnRenamed("label", "component"), iteration
    raise RuntimeError(f"connected components did not settle in {_MAX_ITERATIONS} iterations")


def _posts(spark: SparkSession, scan_out: str) -> DataFrame:
    """The link stage's posts: one per key, its best-scored detection (as ``link_facts``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from tidewatch.scale.scan import read_dataset

    detections = read_dataset(spark, scan_out, "detections")
    best = Window.partitionBy("platform", "id").orderBy(
        F.col("score").desc(), F.col("source_sha256")
    )
    text = F.concat_ws(
        "\n",
        F.when(F.col("title") != "", F.col("title")),
        F.when(F.col("text") != "", F.col("text")),
    )
    account = F.when(F.col("account") != "", F.col("account")).otherwise(
        F.concat(F.lit("unknown:"), F.col("id"))
    )
    return (
        detections.withColumn("rank", F.row_number().over(best))
        .where("rank = 1")
        .select(
            _node(F.col("platform"), F.col("id")).alias("key"),
            _node(F.col("platform"), account).alias("account"),
            text.alias("text"),
            F.coalesce(F.col("lang"), F.lit("")).alias("lang"),
            "label",
            "created_at",
            "model_version",
        )
    )


def run_link(
    spark: SparkSession, scan_out: str, out: str, settings: LinkSettings | None = None
) -> LinkSummary:
    """Networks from the scan job's output at ``scan_out``, written under ``out``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from tidewatch.errors import FormatError
    from tidewatch.link.templates import BANDS, PERMUTATIONS, THRESHOLD
    from tidewatch.scale.scan import _jvm_fs, read_dataset

    settings = settings or LinkSettings()
    path, fs = _jvm_fs(spark, out)
    if fs.exists(path):
        raise FormatError(f"{out}: already exists; give a new folder")
    posts = _posts(spark, scan_out).persist()
    summary = LinkSummary(posts=posts.count())
    versions = [row[0] for row in posts.select("model_version").distinct().limit(2).collect()]
    if len(versions) > 1:
        raise FormatError(f"{scan_out}: detections of several models ({', '.join(versions)})")
    summary.model_version = versions[0] if versions else ""
    # An account seen with several profiles: the database keeps the latest sighting's; the
    # records do not all say when they were retrieved, so the fullest profile is taken here.
    fullest = Window.partitionBy("platform", "id").orderBy(
        F.size(F.coalesce("links", F.array())).desc(),
        F.length(F.coalesce("bio", F.lit(""))).desc(),
        F.col("bio"),
    )
    profiles = (
        read_dataset(spark, scan_out, "accounts")
        .withColumn("rank", F.row_number().over(fullest))
        .where("rank = 1")
        .select(
            _node(F.col("platform"), F.col("id")).alias("account"),
            F.concat_ws("\n", F.coalesce("bio", F.lit("")), F.coalesce("links", F.array())).alias(
                "text"
            ),
        )
    )
    total = max(profiles.select("account").union(posts.select("account")).distinct().count(), 2)
    risky = posts.where(F.col("label") == "advert").select("account").distinct()
    risky = risky.withColumn("risky", F.lit(True)).persist()

    # Selectors of every account, with the posts they were written in.
    sources = posts.select(
        F.lit(True).alias("is_post"), "key", "account", "text", "lang"
    ).unionByName(
        profiles.select(
            F.lit(False).alias("is_post"),
            F.lit("").alias("key"),
            "account",
            "text",
            F.lit("").alias("lang"),
        )
    )
    found = sources.mapInArrow(
        selector_rows, "account string, selector string, order string, where string"
    )
    owned = (
        found.groupBy("account", "selector")
        .agg(F.sort_array(F.collect_list(F.struct("order", "where"))).alias("seen"))
        .select("account", "selector", F.col("seen.where").alias("wheres"))
        .persist()
    )
    per_selector = (
        owned.join(risky, "account", "left")
        .groupBy("selector")
        .agg(
            F.count("*").alias("users"),
            F.collect_list(
                F.when(F.col("risky"), F.struct("account", F.slice("wheres", 1, 3).alias("wheres")))
            ).alias("candidates"),
        )
        .where(F.size("candidates") >= 2)
    )
    edge_type = (
        "a string, b string, order string, kind string, value string, weight double, "
        "posts array<string>"
    )
    by_selector = per_selector.mapInArrow(
        lambda b: selector_edges(b, total, settings),
        edge_type,
    )

    # Template clusters: bucket by band, compare with each bucket's smallest key.
    signatures = posts.select("key", "text").mapInArrow(
        signature_rows, "key string, sig array<bigint>"
    )
    signatures = signatures.persist()
    rows = PERMUTATIONS // BANDS
    bands = signatures.select(
        "key",
        F.posexplode(
            F.transform(
                F.sequence(F.lit(0), F.lit(BANDS - 1)),
                lambda b: F.slice("sig", b * rows + 1, rows),
            )
        ).alias("band", "values"),
    )
    representative = bands.groupBy("band", "values").agg(F.min("key").alias("rep"))
    pairs = (
        bands.join(representative, ["band", "values"])
        .where(F.col("key") != F.col("rep"))
        .select("key", "rep")
        .distinct()
    )
    mine = signatures.select("key", F.col("sig").alias("sig_a"))
    theirs = signatures.select(F.col("key").alias("rep"), F.col("sig").alias("sig_b"))
    equal = F.aggregate(
        F.zip_with("sig_a", "sig_b", lambda x, y: F.when(x == y, 1).otherwise(0)),
        F.lit(0),
        lambda acc, x: acc + x,
    )
    post_edges = (
        pairs.join(mine, "key")
        .join(theirs, "rep")
        .where(equal / float(PERMUTATIONS) >= THRESHOLD)
        .select(F.col("key").alias("src"), F.col("rep").alias("dst"))
    )
    clusters, iterations = components(post_edges)
    summary.iterations = iterations
    clusters = clusters.select(F.col("node").alias("key"), F.col("component").alias("cluster"))
    clusters = clusters.persist()
    members = (
        clusters.join(posts, "key")
        .join(risky, "account", "left")
        .select(
            "cluster",
            F.struct(
                "key",
                "account",
                "label",
                "text",
                F.coalesce("risky", F.lit(False)).alias("risky"),
            ).alias("member"),
        )
        .groupBy("cluster")
        .agg(F.collect_list("member").alias("members"))
    )
    by_template = members.mapInArrow(lambda b: template_edges(b, settings), edge_type)

    # Links: every pair's evidence weighed together; networks are their components.
    links = (
        by_selector.unionByName(by_template)
        .groupBy("a", "b")
        .agg(
            F.collect_list(F.struct("order", "kind", "value", "weight", "posts")).alias("evidence")
        )
        .mapInArrow(lambda b: weigh_links(b, settings.min_edge), "a string, b string, link string")
        .persist()
    )
    membership, more = components(links.select(F.col("a").alias("src"), F.col("b").alias("dst")))
    summary.iterations += more
    membership = membership.select(F.col("node").alias("account"), F.col("component").alias("net"))
    membership = membership.persist()

    own_posts = (
        posts.join(membership, "account")
        .join(clusters, "key", "left")
        .groupBy("net")
        .agg(
            F.min("created_at").alias("first_seen"),
            F.max("created_at").alias("last_seen"),
            F.collect_set(F.when(F.col("lang") != "", F.col("lang"))).alias("languages"),
            F.countDistinct("cluster").alias("templates"),
        )
    )
    shared = (
        owned.join(membership, "account")
        .groupBy("net", "selector")
        .agg(F.countDistinct("account").alias("holders"))
        .where("holders >= 2")
        .groupBy("net")
        .agg(F.collect_list("selector").alias("selectors"))
    )
    accounts_of = (
        membership.groupBy("net").agg(F.collect_list("account").alias("members")).persist()
    )
    id_of_net = accounts_of.mapInArrow(network_ids, "net string, id string")
    networks = (
        accounts_of.join(own_posts, "net", "left")
        .join(shared, "net", "left")
        .mapInArrow(network_documents, "id string, size bigint, document string")
        .withColumn("model_version", F.lit(summary.model_version))
    )
    network_links = (
        links.join(membership.withColumnRenamed("account", "a"), "a")
        .join(id_of_net, "net")
        .select(F.col("id").alias("network_id"), "link")
    )
    root = out.rstrip("/")
    networks.write.parquet(f"{root}/networks")
    network_links.write.parquet(f"{root}/links")
    written = spark.read.parquet(f"{root}/networks")
    ids = written.select(
        F.col("id").alias("network_id"),
        F.from_json("document", "accounts array<string>").alias("d"),
    )
    (
        ids.select("network_id", F.explode("d.accounts").alias("account"))
        .select(
            "network_id",
            F.split_part("account", F.lit(":"), F.lit(1)).alias("platform"),
            F.expr("substring(account, instr(account, ':') + 1)").alias("native_id"),
        )
        .write.parquet(f"{root}/membership")
    )
    counts = written.agg(F.count("*"), F.sum("size")).first()
    summary.networks = int(counts[0]) if counts else 0
    summary.accounts_in_networks = int(counts[1] or 0) if counts else 0
    for frame in (posts, risky, owned, signatures, clusters, links, membership, accounts_of):
        frame.unpersist()
    return summary
