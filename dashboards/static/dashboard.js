// Draw every figure whose JSON the page embeds, then mark the page ready (tests wait for data-ready="1").
(function () {
  async function draw() {
    const blocks = document.querySelectorAll('script[data-figure]');
    const jobs = [];
    for (const block of blocks) {
      const fig = JSON.parse(block.textContent);
      jobs.push(Plotly.newPlot(block.dataset.figure, fig.data, fig.layout,
                               {displaylogo: false, responsive: true}));
    }
    await Promise.all(jobs);
    document.body.dataset.figures = String(blocks.length);
    document.body.dataset.ready = "1";
  }
  function lineageHover() {
    document.querySelectorAll('#lineage-graph a.node').forEach(function (node) {
      const id = node.dataset.artifactId;
      node.addEventListener('mouseenter', function () {
        document.querySelectorAll('#lineage-graph .edge[data-child="' + id + '"], #lineage-graph .edge[data-parent="' + id + '"]')
          .forEach(function (e) { e.classList.add('hot'); });
      });
      node.addEventListener('mouseleave', function () {
        document.querySelectorAll('#lineage-graph .edge.hot').forEach(function (e) { e.classList.remove('hot'); });
      });
    });
  }
  function start() {
    lineageHover();
    if (typeof Plotly === 'undefined') { document.body.dataset.ready = "1"; return; }
    draw().catch(function (err) { document.body.dataset.error = String(err); document.body.dataset.ready = "1"; });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start); else start();
})();
