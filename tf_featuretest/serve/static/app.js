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

let info = null;
const METHOD_HELP = {
  perceptual: "Searches for the smallest change a person would notice: less on flat background, more on strokes and edges.",
  cw: "Carlini-Wagner L2: the smallest change in L2 norm (slower).",
  ddn: "Decoupled direction and norm: the smallest L2 change, fast.",
  feature_space: "Pulls the image's features towards the target class, within the L-inf budget.",
  pgd: "Targeted projected gradient descent within the L-inf budget.",
  fgsm: "One gradient-sign step of the L-inf budget (often misses the target).",
};

function isMinimal(m) { return info && info.minimal_methods.includes(m); }
function updateBudget() {
  const m = $("method").value;
  $("method-help").textContent = METHOD_HELP[m] || "";
  if (isMinimal(m)) { $("eps-label").textContent = "Cap on the change (L-inf, 1 = none)"; $("eps").value = "1"; }
  else { $("eps-label").textContent = "Budget (L-inf)"; $("eps").value = "0.2"; }
}

async function loadLabels() {
  const resp = await fetch("/v1/labels", { headers: headers() });
  if (!resp.ok) { setStatus("Cannot load labels: " + await failText(resp), true); return; }
  info = await resp.json();
  $("target").replaceChildren(...info.labels.map((l) => new Option(l, l)));
  $("method").replaceChildren(...info.methods.map((m) => new Option(m.replace("_", " "), m)));
  if (info.default_method) $("method").value = info.default_method;
  updateBudget();
  $("run").disabled = !chosen || info.methods.length === 0;
  setStatus(info.methods.length ? "" : "This export has no attacks; only predictions work.", !info.methods.length);
  if (info.samples) await loadSamples();
}

async function loadSamples() {
  const resp = await fetch("/v1/samples", { headers: headers() });
  if (!resp.ok) return;
  const items = (await resp.json()).samples;
  const buttons = items.map((s, i) => {
    const b = document.createElement("button");
    b.type = "button"; b.title = "test image, label " + s.label; b.dataset.label = s.label;
    const img = document.createElement("img"); img.src = s.png; img.alt = "test image " + s.label;
    b.append(img);
    b.addEventListener("click", async () => {
      document.querySelectorAll("#samples button").forEach((o) => o.classList.remove("chosen"));
      b.classList.add("chosen");
      const blob = await (await fetch(s.png)).blob();
      choose(new File([blob], "test image " + (i + 1) + " (label " + s.label + ").png", { type: "image/png" }));
    });
    return b;
  });
  $("samples").replaceChildren(...buttons);
  $("samples-block").hidden = buttons.length === 0;
  if (buttons.length && !chosen) buttons[0].click();
}

function nextLabel(label) {
  const labels = info.labels;
  return labels[(labels.indexOf(label) + 1) % labels.length];
}

async function choose(file) {
  chosen = file;
  $("file-name").textContent = file.name;
  $("img-original").src = URL.createObjectURL(file);
  $("fig-original").hidden = false;
  $("fig-perturbation").hidden = true;
  $("fig-result").hidden = true;
  $("pred-result").textContent = "";
  $("figures").hidden = true;
  $("run").disabled = $("method").options.length === 0;
  const body = new FormData(); body.append("file", file);
  const resp = await fetch("/v1/predict?k=3", { method: "POST", body, headers: headers() });
  if (!resp.ok) { setStatus("Prediction failed: " + await failText(resp), true); return; }
  const pred = await resp.json();
  $("pred-original").textContent = "model: " + fmtPrediction(pred);
  $("target").value = nextLabel(pred.label);
  setStatus("The model calls this image " + pred.label + ". Pick a target label and make a look-alike.");
}

function judgeText(j) {
  if (!j) return ["not judged (this export has no label committee)", ""];
  const who = j.members.map((m) => m.name + ": " + m.label + " " + (100 * m.confidence).toFixed(0) + "%").join(", ");
  if (j.verdict === "kept") return ["yes: the label committee still sees " + j.label + " (" + who + ")", "kept"];
  if (j.verdict === "changed") return ["no: the label committee no longer sees " + j.label + " (" + who + ")", "changed"];
  return ["unsure: the committee members disagree (" + who + ")", "ambiguous"];
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
  $("fig-perturbation").hidden = false;
  $("fig-result").hidden = false;
  $("pred-original").textContent = "model: " + fmtPrediction(r.original_prediction);
  $("pred-result").textContent = "model: " + fmtPrediction(r.adversarial_prediction);
  $("result-label").textContent = r.predicted_label;
  $("result-confidence").textContent = (100 * r.confidence).toFixed(1) + "%";
  $("result-success").textContent = r.success ? "yes" : (isMinimal(r.method) ? "no (raise the cap or try another method)" : "no (try a larger budget)");
  const [jt, jc] = judgeText(r.judge);
  $("judge").textContent = jt; $("judge").className = jc;
  $("linf").textContent = r.linf.toFixed(4);
  $("l2").textContent = r.l2.toFixed(3);
  $("ssim").textContent = r.ssim.toFixed(4);
  $("figures").hidden = false;
  setStatus(r.success ? "Done: the model now says " + r.predicted_label + " (target " + r.target + ")."
                      : "The model says " + r.predicted_label + ", not the target " + r.target + ".", !r.success);
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
$("method").addEventListener("change", updateBudget);
$("api-key").addEventListener("change", () => { rememberKey(); loadLabels(); });
$("tab-attack").addEventListener("click", (e) => { e.preventDefault(); history.replaceState(null, "", "#"); showAttack(); });
window.addEventListener("hashchange", route);
$("api-key").value = localStorage.getItem("featuretest_api_key") || "";
if (apiKey()) rememberKey();
loadLabels();
route();
