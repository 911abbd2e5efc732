// Count SMS parts while staff type a reply, the way hotline.textcodec counts them:
// GSM-7 160 characters for one part, 153 per part after (extension characters count 2);
// any other character makes the whole text UCS-2: 70, then 67 per part.
// No inline script and nothing fetched: the CSP allows only this file.
(function () {
  "use strict";
  var BASIC = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var EXTENDED = "^{}\\[~]|€\f";

  function measure(text) {
    var chars = Array.from(text);
    var gsm = chars.every(function (ch) {
      return BASIC.indexOf(ch) >= 0 || EXTENDED.indexOf(ch) >= 0;
    });
    var costs = chars.map(function (ch) {
      if (gsm) { return EXTENDED.indexOf(ch) >= 0 ? 2 : 1; }
      return ch.codePointAt(0) > 0xFFFF ? 2 : 1;
    });
    var units = costs.reduce(function (a, b) { return a + b; }, 0);
    var single = gsm ? 160 : 70, perPart = gsm ? 153 : 67, parts = units ? 1 : 0, used = 0;
    if (units > single) {  // never split an escape pair or a surrogate pair
      costs.forEach(function (c) {
        if (used + c > perPart) { parts += 1; used = 0; }
        used += c;
      });
    }
    return {units: units, parts: parts, encoding: gsm ? "GSM-7" : "UCS-2"};
  }

  document.querySelectorAll("[data-sms-count-for]").forEach(function (out) {
    var box = document.getElementById(out.getAttribute("data-sms-count-for"));
    if (!box) { return; }
    var max = parseInt(box.getAttribute("data-max-parts"), 10) || 3;
    function update() {
      var cost = measure(box.value.replace(/\r\n/g, "\n").trim());
      out.textContent = cost.units + " characters (" + cost.encoding + "), " + cost.parts +
        " SMS part" + (cost.parts === 1 ? "" : "s") + " of at most " + max + ".";
      out.classList.toggle("late", cost.parts > max);
    }
    box.addEventListener("input", update);
    update();
  });
}());
