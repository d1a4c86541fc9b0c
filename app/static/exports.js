// 导出任务: the export's progress (every second) until it has finished, then the download
// link (progress.js polls).
(function () {
  var box = document.getElementById("export-job");
  if (!box) { return; }
  var bar = document.getElementById("export-bar");
  window.pollProgress(box, bar, function (data) {
    document.getElementById("export-status").textContent = data.status;
    document.getElementById("export-done").textContent = data.done;
    document.getElementById("export-total").textContent = data.total;
    document.getElementById("export-error").textContent = data.error;
    var link = document.getElementById("export-download");
    if (data.download_url) { link.href = data.download_url; link.hidden = false; }
    if (data.finished) { bar.className = "progress-bar" + (data.error ? " progress-bar-danger" : " progress-bar-success"); }
  }, 1000);
})();
