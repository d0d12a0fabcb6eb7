"""An artifact and its ancestors as a layered SVG: sources on the left, the artifact on the right.

Every node is a link to that artifact's own lineage page (click to walk the graph), with a hover title giving its
kind, rows, tokens, URI and fingerprint. Layers are longest-path distances from the artifact, so every edge points
rightwards. Columns hold at most MAX_PER_LAYER nodes; the rest are folded into one "+N more" node.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 170, 44, 50, 16, 20  # 6 layers fit 1400 px; wider scales down
MAX_PER_LAYER = 40
KIND_COLORS = {"source": "#fde2b8", "folder": "#d7e8fb", "parquet": "#d5f0d5", "file": "#eadcf5"}


def layers(root_id: int, edges: list[tuple[int, int]]) -> dict[int, int]:
    """{artifact_id: longest distance from root} over (child, parent) edges of a DAG."""
    parents: dict[int, list[int]] = defaultdict(list)
    for child, parent in edges:
        parents[child].append(parent)
    depth = {root_id: 0}
    frontier = [root_id]
    for _ in range(10_000):  # a DAG settles in at most |nodes| rounds
        nxt = []
        for c in frontier:
            for p in parents.get(c, ()):
                if depth.get(p, -1) < depth[c] + 1:
                    depth[p] = depth[c] + 1
                    nxt.append(p)
        if not nxt:
            break
        frontier = nxt
    return depth


def group_partitions(ancestors: list[dict], edges: list[tuple[int, int]], is_partition) -> tuple[list[dict], list]:
    """One node per partition artifact name (`web_partition ×12`, `curate_filter ×3`): the group takes the smallest
    id of its members, edges are redirected to it and deduplicated."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for a in ancestors:
        if is_partition(a["name"]):
            groups[a["name"]].append(a)
    alias: dict[int, int] = {}
    out = [a for a in ancestors if not is_partition(a["name"])]
    for name, members in groups.items():
        head = min(members, key=lambda a: a["artifact_id"])
        if len(members) == 1:
            out.append(head)
            continue
        for a in members:
            alias[a["artifact_id"]] = head["artifact_id"]
        out.append({**head, "group": len(members), "rows": sum(a.get("rows") or 0 for a in members) or None,
                    "depth": min(a.get("depth") or 1 for a in members)})
    moved = {(alias.get(c, c), alias.get(p, p)) for c, p in edges}
    return out, sorted((c, p) for c, p in moved if c != p)


def render_svg(root: dict, ancestors: list[dict], edges: list[tuple[int, int]], href) -> tuple[str, int]:
    """(SVG markup, number of nodes drawn). `href(artifact_id) -> url` for the node links."""
    nodes = {root["artifact_id"]: root} | {a["artifact_id"]: a for a in ancestors}
    edges = [(c, p) for c, p in edges if c in nodes and p in nodes]
    depth = layers(root["artifact_id"], edges)
    for a in ancestors:  # an ancestor the edges did not reach (should not happen) still gets its view depth
        depth.setdefault(a["artifact_id"], a.get("depth") or 1)
    max_depth = max(depth.values())
    columns: dict[int, list[int]] = defaultdict(list)
    for aid, d in depth.items():
        columns[d].append(aid)
    pos: dict[int, tuple[float, float]] = {}
    folded: dict[int, int] = {}
    for d, ids in columns.items():
        ids.sort(key=lambda i: (nodes[i]["name"], nodes[i]["version"], i))
        if len(ids) > MAX_PER_LAYER:
            folded[d] = len(ids) - (MAX_PER_LAYER - 1)
            ids[:] = ids[:MAX_PER_LAYER - 1]
        x = PAD + (max_depth - d) * (NODE_W + GAP_X)
        for k, aid in enumerate(ids):
            pos[aid] = (x, PAD + k * (NODE_H + GAP_Y))
    rows = max(len(ids) + (1 if d in folded else 0) for d, ids in columns.items())
    width = 2 * PAD + (max_depth + 1) * NODE_W + max_depth * GAP_X
    height = 2 * PAD + rows * NODE_H + (rows - 1) * GAP_Y
    # wider than the page: scaled down to its width (text stays legible to ~2x), the .graph box scrolls beyond
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lineage" id="lineage-graph" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" preserveAspectRatio="xMinYMin meet" '
           f'style="max-width:100%;min-width:{min(width, 1400) // 2}px;height:auto">',
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
           'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#888"/></marker></defs>']
    for child, parent in edges:
        if child in pos and parent in pos:
            (px, py), (cx, cy) = pos[parent], pos[child]
            x1, y1, x2, y2 = px + NODE_W, py + NODE_H / 2, cx, cy + NODE_H / 2
            mid = (x1 + x2) / 2
            out.append(f'<path class="edge" data-child="{child}" data-parent="{parent}" '
                       f'd="M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}" marker-end="url(#arrow)"/>')
    for aid, (x, y) in pos.items():
        a = nodes[aid]
        label = f"{a['name']} ×{a['group']}" if a.get("group") else f"{a['name']}:{a['version']}"
        sub = _subtitle(a)
        title = "\n".join(f"{k}: {a.get(k)}" for k in ("artifact_id", "kind", "stage", "rows", "tokens", "bytes",
                                                        "uri", "fingerprint") if a.get(k) is not None)
        cls = "node root" if aid == root["artifact_id"] else "node"
        out.append(
            f'<a href="{escape(href(aid))}" class="{cls}" data-artifact-id="{aid}" data-name="{escape(a["name"])}">'
            f'<title>{escape(title)}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" '
            f'fill="{KIND_COLORS.get(a.get("kind"), "#eeeeee")}"/>'
            f'<text x="{x + 8}" y="{y + 18}" class="label">{escape(_clip(label, 26))}</text>'
            f'<text x="{x + 8}" y="{y + 35}" class="sub">{escape(_clip(sub, 30))}</text></a>')
    for d, n in folded.items():
        x = PAD + (max_depth - d) * (NODE_W + GAP_X)
        y = PAD + len(columns[d]) * (NODE_H + GAP_Y)
        out.append(f'<g class="folded"><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6" '
                   f'fill="#f4f4f4" stroke-dasharray="4 3"/><text x="{x + 8}" y="{y + 27}">+{n} more</text></g>')
    out.append("</svg>")
    return "".join(out), len(pos)


def _subtitle(a: dict) -> str:
    if a.get("kind") == "source":
        return str(a.get("uri") or "").rsplit("/", 1)[-1]
    parts = [a.get("kind") or ""]
    if a.get("rows") is not None:
        parts.append(f"{a['rows']:,} rows")
    if a.get("tokens"):
        parts.append(f"{a['tokens']:,} tok")
    return " · ".join(p for p in parts if p)


def _clip(s: str, n: int) -> str:
    return s if len(s) <= n else s[: n - 1] + "…"
