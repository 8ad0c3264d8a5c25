// Proves the page's parts all arrived: the script ran, the stylesheet applied,
// the image decoded. A browser test reads #status.
const title = document.getElementById("title");
const logo = document.getElementById("logo");
const status = document.getElementById("status");
title.textContent = "Hello from tau (scripted)";
function report() {
  const color = getComputedStyle(title).color;
  status.textContent = "js:ok css:" + color + " img:" + logo.naturalWidth + "x" + logo.naturalHeight;
}
if (logo.complete && logo.naturalWidth > 0) report(); else logo.addEventListener("load", report);
logo.addEventListener("error", () => { status.textContent = "img:error"; });
