// Study heartbeats: about every 30 s while the lesson is shown, and when the page is hidden
// or shown again. The server decides what counts; the page only reports.
(function () {
  var box = document.getElementById("study");
  if (!box || !box.dataset.lesson) { return; }
  var video = document.getElementById("lesson-video");
  var resume = parseFloat(box.dataset.resume || "0");
  if (video && resume > 0) {
    video.addEventListener("loadedmetadata", function () { video.currentTime = resume; }, { once: true });
  }
  function beat() {
    var visible = document.visibilityState === "visible" && (!video || !video.paused);
    fetch(box.dataset.heartbeatUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
      body: JSON.stringify({ lesson_id: box.dataset.lesson, visible: visible,
                             position: video ? Math.floor(video.currentTime) : 0 })
    }).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (data) { document.getElementById("progress").textContent = data.progress; }
    }).catch(function () {});
  }
  beat();
  setInterval(beat, parseInt(box.dataset.beat || "30", 10) * 1000);
  document.addEventListener("visibilitychange", beat);
  if (video) { video.addEventListener("play", beat); video.addEventListener("pause", beat); }
})();
