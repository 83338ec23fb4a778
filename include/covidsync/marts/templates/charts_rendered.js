document.addEventListener('DOMContentLoaded', function () {
  var n = 0;
  document.querySelectorAll('svg.chart').forEach(function (svg) {
    var marks = svg.querySelectorAll('[data-mark]'), drawn = 0;
    marks.forEach(function (m) { var b = m.getBBox(); if (b.width > 0 && b.height > 0) { drawn++; } });
    svg.setAttribute('data-marks-drawn', drawn);
    if (marks.length === 0 || drawn > 0) { n++; }
  });
  document.documentElement.setAttribute('data-charts-rendered', n);
});
