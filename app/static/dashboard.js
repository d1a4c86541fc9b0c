/* 首页 · 统计分析: each .chart's data-chart (categories, series) drawn as an ECharts bar
   chart; 「查看表格」 toggles the same numbers as a table. No inline script (CSP). */
(function () {
  "use strict";
  var me = document.getElementById("dashboard-js");
  var locale = (me && me.getAttribute("data-locale")) || "ZH";
  var charts = [];

  /* labels that would overlap side by side are slanted */
  function crowded(categories) {
    var chars = categories.reduce(function (n, c) { return n + String(c).length; }, 0);
    return categories.length > 8 || chars > categories.length * 5;
  }

  function option(data) {
    var money = data.series.some(function (s) { return s.money; });
    var yAxis = [{ type: "value", minInterval: 1 }];
    if (money) { yAxis.push({ type: "value", axisLabel: { formatter: "{value}" } }); }
    return {
      animation: false,
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      legend: { show: data.series.length > 1, top: 0 },
      grid: { left: 48, right: money ? 64 : 16, top: data.series.length > 1 ? 32 : 16, bottom: 24, containLabel: true },
      xAxis: { type: "category", data: data.categories, axisLabel: { interval: 0, rotate: crowded(data.categories) ? 30 : 0 } },
      yAxis: yAxis,
      series: data.series.map(function (s) {
        return { name: s.name, type: "bar", data: s.data, yAxisIndex: s.money ? 1 : 0,
                 label: { show: data.series.length === 1, position: "top" } };
      })
    };
  }

  function draw() {
    if (typeof window.echarts === "undefined") { return; }
    var nodes = document.querySelectorAll(".chart[data-chart]");
    Array.prototype.forEach.call(nodes, function (el) {
      var data = JSON.parse(el.getAttribute("data-chart"));
      var chart = window.echarts.init(el, null, { locale: locale, renderer: "canvas" });
      chart.setOption(option(data));
      charts.push(chart);
    });
  }

  function toggles() {
    var buttons = document.querySelectorAll(".chart-toggle");
    Array.prototype.forEach.call(buttons, function (btn) {
      btn.addEventListener("click", function () {
        var table = document.getElementById(btn.getAttribute("data-target"));
        if (!table) { return; }
        var showing = !table.hidden;
        table.hidden = showing;
        btn.textContent = showing ? btn.getAttribute("data-show") : btn.getAttribute("data-hide");
        btn.setAttribute("aria-expanded", showing ? "false" : "true");
      });
    });
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (c) { c.resize(); });
  });
  draw();
  toggles();
}());
