// 整批发放: the batch's progress (every second) until it has finished (progress.js polls).
(function () {
  var box = document.getElementById("batch");
  if (!box) { return; }
  var bar = document.getElementById("batch-bar");
  window.pollProgress(box, bar, function (data) {
    document.getElementById("batch-status").textContent = data.status;
    document.getElementById("batch-total").textContent = data.total;
    document.getElementById("batch-done").textContent = data.done;
    document.getElementById("batch-failed").textContent = data.failed;
    document.getElementById("batch-message").textContent = data.message;
    document.getElementById("form-batch-cancel").hidden = !data.can_cancel;
    document.getElementById("form-batch-retry").hidden = !data.can_retry;
    if (data.finished) { bar.className = "progress-bar" + (data.can_retry ? " progress-bar-danger" : " progress-bar-success"); }
  }, 1000);
})();
