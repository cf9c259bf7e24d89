// The look-alike page: plain JavaScript against the service's /v1 API.
"use strict";
const $ = (id) => document.getElementById(id);
let chosen = null;

function apiKey() { return $("api-key").value.trim(); }
function headers() { const k = apiKey(); return k ? { "X-API-Key": k } : {}; }
function setStatus(text, isError) { $("status").textContent = text; $("status").className = isError ? "error" : ""; }
function rememberKey() {
  const k = apiKey();
  localStorage.setItem("featuretest_api_key", k);
  document.cookie = "featuretest_api_key=" + encodeURIComponent(k) + "; path=/; SameSite=Strict";
}
async function failText(resp) {
  try { const body = await resp.json(); return resp.status + ": " + (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)); }
  catch (e) { return resp.status + " " + resp.statusText; }
}
function fmtPrediction(p) { return p.label + " (" + (100 * p.confidence).toFixed(1) + "%)"; }

async function loadLabels() {
  const resp = await fetch("/v1/labels", { headers: headers() });
  if (!resp.ok) { setStatus("Cannot load labels: " + await failText(resp), true); return; }
  const info = await resp.json();
  $("target").replaceChildren(...info.labels.map((l) => new Option(l, l)));
  $("method").replaceChildren(...info.methods.map((m) => new Option(m.replace("_", " "), m)));
  $("run").disabled = !chosen || info.methods.length === 0;
  setStatus(info.methods.length ? "" : "This export has no attacks; only predictions work.", !info.methods.length);
}

async function choose(file) {
  chosen = file;
  $("file-name").textContent = file.name;
  $("img-original").src = URL.createObjectURL(file);
  $("img-perturbation").removeAttribute("src");
  $("img-result").removeAttribute("src");
  $("pred-result").textContent = "";
  $("figures").hidden = true;
  $("run").disabled = $("method").options.length === 0;
  const body = new FormData(); body.append("file", file);
  const resp = await fetch("/v1/predict?k=3", { method: "POST", body, headers: headers() });
  if (!resp.ok) { setStatus("Prediction failed: " + await failText(resp), true); return; }
  const pred = await resp.json();
  $("pred-original").textContent = "model: " + fmtPrediction(pred);
  setStatus("The model calls this image " + pred.label + ". Pick a target label.");
}

async function run(ev) {
  ev.preventDefault();
  if (!chosen) return;
  const body = new FormData();
  body.append("file", chosen);
  body.append("target", $("target").value);
  body.append("method", $("method").value);
  body.append("eps", $("eps").value);
  $("run").disabled = true;
  setStatus("Working...");
  const resp = await fetch("/v1/attack?format=json", { method: "POST", body, headers: headers() });
  $("run").disabled = false;
  if (!resp.ok) { setStatus("Attack failed: " + await failText(resp), true); return; }
  const r = await resp.json();
  $("img-original").src = r.original_png;
  $("img-perturbation").src = r.perturbation_png;
  $("img-result").src = r.adversarial_png;
  $("pred-original").textContent = "model: " + fmtPrediction(r.original_prediction);
  $("pred-result").textContent = "model: " + fmtPrediction(r.adversarial_prediction);
  $("result-label").textContent = r.predicted_label;
  $("result-confidence").textContent = (100 * r.confidence).toFixed(1) + "%";
  $("result-success").textContent = r.success ? "yes" : "no (try a larger budget)";
  $("linf").textContent = r.linf.toFixed(4);
  $("l2").textContent = r.l2.toFixed(3);
  $("ssim").textContent = r.ssim.toFixed(4);
  $("figures").hidden = false;
  setStatus("Done: the model now says " + r.predicted_label + " (target " + r.target + ").");
}

async function showReport() {
  $("attack-view").hidden = true; $("report-view").hidden = false;
  $("tab-report").className = "active"; $("tab-attack").className = "";
  const resp = await fetch("/v1/report", { headers: headers() });
  if (!resp.ok) { $("report-status").textContent = "No report: " + await failText(resp); $("report-frame").hidden = true; return; }
  $("report-status").textContent = "";
  $("report-frame").hidden = false;
  $("report-frame").src = "/report/";
}
function showAttack() {
  $("attack-view").hidden = false; $("report-view").hidden = true;
  $("tab-report").className = ""; $("tab-attack").className = "active";
}
function route() { if (location.hash === "#report") showReport(); else showAttack(); }

$("file").addEventListener("change", () => { if ($("file").files.length) choose($("file").files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) choose(e.dataTransfer.files[0]);
});
$("form").addEventListener("submit", run);
$("api-key").addEventListener("change", () => { rememberKey(); loadLabels(); });
$("tab-attack").addEventListener("click", (e) => { e.preventDefault(); history.replaceState(null, "", "#"); showAttack(); });
window.addEventListener("hashchange", route);
$("api-key").value = localStorage.getItem("featuretest_api_key") || "";
if (apiKey()) rememberKey();
loadLabels();
route();
