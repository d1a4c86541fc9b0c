// 导入专家 / 导入题库: the import's progress (twice a second) while it runs in the background;
// once it has finished the page is loaded again to show the per-row report (progress.js polls).
(function () {
  var box = document.getElementById("import-batch");
  if (!box || box.dataset.active !== "true") { return; }
  window.pollProgress(box, document.getElementById("import-bar"), function (data) {
    document.getElementById("import-status").textContent = data.status;
    document.getElementById("import-done").textContent = data.done;
    document.getElementById("import-total").textContent = data.total;
  }, 500, function () { window.location.reload(); });
})();
