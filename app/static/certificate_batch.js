// 整批发放: polls the batch's progress (every second) until it has finished.
(function () {
  var box = document.getElementById("batch");
  if (!box) { return; }
  var bar = document.getElementById("batch-bar");
  function show(data) {
    bar.style.width = data.percent + "%";
    bar.setAttribute("aria-valuenow", data.percent);
    bar.textContent = data.percent + "%";
    document.getElementById("batch-status").textContent = data.status;
    document.getElementById("batch-total").textContent = data.total;
    document.getElementById("batch-done").textContent = data.done;
    document.getElementById("batch-failed").textContent = data.failed;
    document.getElementById("batch-message").textContent = data.message;
    document.getElementById("form-batch-cancel").hidden = !data.can_cancel;
    document.getElementById("form-batch-retry").hidden = !data.can_retry;
    if (data.finished) { bar.className = "progress-bar" + (data.can_retry ? " progress-bar-danger" : " progress-bar-success"); }
  }
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        show(data);
        if (!data.finished) { setTimeout(poll, 1000); }
      }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
})();
