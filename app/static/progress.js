// A background job's progress bar (整批发放, 导出任务, 导入): polls the job's JSON status
// until it has finished. Each page's script says what else its page shows (onData) and what
// happens at the end (onFinished); the bar, the polling and the retry after an error are here.
window.pollProgress = function (box, bar, onData, everyMs, onFinished) {
  function poll() {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) { setTimeout(poll, 3000); return; }
        bar.style.width = data.percent + "%";
        bar.setAttribute("aria-valuenow", data.percent);
        bar.textContent = data.percent + "%";
        onData(data);
        if (!data.finished) { setTimeout(poll, everyMs); } else if (onFinished) { onFinished(data); }
      }).catch(function () { setTimeout(poll, 3000); });
  }
  poll();
};
