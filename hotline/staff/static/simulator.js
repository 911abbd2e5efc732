// "Try the service": drive the real flow engine one key press at a time (preview only).
(function () {
  "use strict";
  var sim = document.getElementById("sim");
  if (!sim) { return; }
  var screen = document.getElementById("screen");
  var answer = document.getElementById("answer");
  var send = document.getElementById("send");
  var error = document.getElementById("sim-error");
  var endFlag = document.getElementById("end-flag");
  var keys = sim.querySelectorAll(".key");

  function setEnabled(on) {
    answer.disabled = !on;
    send.disabled = !on;
    keys.forEach(function (k) { k.disabled = !on; });
  }

  var log = document.getElementById("log");
  // texts in the page's language, written by the server into data-t-* attributes
  var words = {dial: sim.dataset.tDial, end: sim.dataset.tEnd, over: sim.dataset.tOver,
               of: sim.dataset.tOf, ended: sim.dataset.tEnded};
  var sent = "";

  function remember(data) {
    var item = document.createElement("li");
    item.textContent = (sent === "" ? words.dial : "\u201c" + sent + "\u201d") + " \u2192 " +
      (data.node || words.end) + " p" + data.page + ": " + data.units + "/" + data.limit + " " +
      data.encoding + (data.end ? " (" + words.end + ")" : "");
    if (data.over) { item.className = "over"; }
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }

  function show(data) {
    remember(data);
    screen.textContent = data.text;
    screen.setAttribute("dir", data.dir || "auto");
    if (data.lang) { screen.setAttribute("lang", data.lang); } else { screen.removeAttribute("lang"); }
    var units = document.getElementById("m-units");
    units.textContent = data.units + " / " + data.limit + (data.over ? " — " + words.over : "");
    units.className = data.over ? "late" : "";
    document.getElementById("m-encoding").textContent = data.encoding;
    document.getElementById("m-page").textContent = data.page + " " + words.of + " " + data.pages;
    document.getElementById("m-node").textContent = data.node || "—";
    endFlag.textContent = data.end ? words.ended : "";
    setEnabled(!data.end);
    answer.value = "";
    if (!data.end) { answer.focus(); }
  }

  function post(body) {
    error.hidden = true;
    return fetch(sim.dataset.stepUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": sim.dataset.csrf},
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (data) {
        if (!response.ok) { throw new Error(data.error || ("Error " + response.status)); }
        show(data);
      });
    }).catch(function (e) {
      error.textContent = e.message;
      error.hidden = false;
    });
  }

  document.getElementById("dial").addEventListener("click", function () {
    sent = "";
    log.textContent = "";
    var chosen = sim.querySelector("input[name=start-lang]:checked");
    var network = document.getElementById("network");
    post({dial: true, lang: chosen ? chosen.value : "", network: network ? network.value : ""});
  });
  document.getElementById("reply").addEventListener("submit", function (event) {
    event.preventDefault();
    sent = answer.value;
    post({input: answer.value});
  });
  keys.forEach(function (key) {
    key.addEventListener("click", function () {
      answer.value += key.dataset.key;
      answer.focus();
    });
  });
}());
