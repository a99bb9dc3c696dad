// The entry form's live preview: on every change, POST the form to the preview view and show
// the schedule in words and its next runs (or the problems, worded as `beatd check` words them).
"use strict";
(function () {
  const DELAY_MS = 250;

  function show(box, answer) {
    const schedule = box.querySelector("#beatd-preview-schedule");
    const runs = box.querySelector("#beatd-preview-runs");
    runs.replaceChildren();
    if (!answer.ok) {
      schedule.className = "beatd-problem";
      schedule.textContent = answer.errors.join("; ");
      return;
    }
    schedule.className = "";
    schedule.textContent = answer.schedule + " \u2014 times in " + answer.zone +
      (answer.enabled ? "" : " (disabled: beatd will not run it)");
    for (const run of answer.runs) {
      const item = document.createElement("li");
      item.textContent = run;
      runs.appendChild(item);
    }
    if (answer.runs.length === 0) {
      const item = document.createElement("li");
      item.textContent = "no more runs";
      runs.appendChild(item);
    }
  }

  function refresh(form, box) {
    fetch(box.dataset.url, {method: "POST", body: new FormData(form), credentials: "same-origin"})
      .then((response) => response.json())
      .then((answer) => show(box, answer))
      .catch((error) => show(box, {ok: false, errors: ["preview unavailable: " + error]}));
  }

  document.addEventListener("DOMContentLoaded", function () {
    const box = document.getElementById("beatd-preview");
    if (!box) {
      return;
    }
    const form = box.closest("form");
    let timer = null;
    const later = function () {
      clearTimeout(timer);
      timer = setTimeout(function () { refresh(form, box); }, DELAY_MS);
    };
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    refresh(form, box);
  });
})();
