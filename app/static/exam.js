// Saves each answer as it is given; counts the time down; hands in when it runs out.
(function () {
  var box = document.getElementById("exam");
  if (!box) { return; }
  var form = document.getElementById("exam-form");
  var left = parseInt(box.dataset.remaining || "0", 10);
  function save(question) {
    var inputs = form.querySelectorAll('[name="q' + question + '"]');
    var values = [];
    inputs.forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") ? el.checked : true) { values.push(el.value); }
    });
    return fetch(box.dataset.answerUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
      body: JSON.stringify({ question_id: question, answer: values.join(",") })
    }).catch(function () {});
  }
  form.addEventListener("change", function (e) {
    var holder = e.target.closest("[data-question]");
    if (holder) { save(holder.dataset.question); }
  });
  // The session ends after 30 idle minutes; an exam may be longer than that: a quiet beat
  // every 4 minutes keeps it (it credits no study time).
  setInterval(function () {
    fetch(box.dataset.keepaliveUrl, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": box.dataset.csrf },
      body: JSON.stringify({ visible: false })
    }).catch(function () {});
  }, 4 * 60 * 1000);
  var shown = document.getElementById("remaining");
  setInterval(function () {
    left -= 1;
    if (left <= 0) { form.submit(); return; }
    shown.textContent = Math.floor(left / 60) + " 分 " + (left % 60) + " 秒";
  }, 1000);
})();
