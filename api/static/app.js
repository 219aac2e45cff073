// minutebook: small progressive enhancement. Every page works without it; with it, answers stream.
// Note text is only ever set with textContent; the one HTML the page inserts is the server's own
// rendering of the answer (escaped by Jinja).
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function parseEvents(buffer, onEvent) {
  // Server-sent events: blocks separated by a blank line, "event:" and "data:" lines.
  let cut;
  while ((cut = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, cut);
    buffer = buffer.slice(cut + 2);
    let kind = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) kind = line.slice(6).trim();
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (data.length) onEvent(kind, JSON.parse(data.join("\n")));
  }
  return buffer;
}

function enhanceAsk() {
  const form = document.getElementById("ask-form");
  const area = document.getElementById("answer-area");
  if (!form || !area || !window.fetch || !window.TextDecoder) return;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    area.replaceChildren();
    const box = document.createElement("div");
    box.className = "answer";
    box.setAttribute("aria-busy", "true");
    const text = document.createElement("div");
    text.className = "streaming";
    text.id = "streaming";
    box.append(text);
    area.append(box);
    try {
      const response = await fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        headers: { Accept: "text/event-stream", "X-CSRF-Token": csrfToken() },
        credentials: "same-origin",
      });
      const streamed = (response.headers.get("content-type") || "").startsWith("text/event-stream");
      if (response.ok && !streamed && response.redirected) {
        window.location.assign(response.url);  // the session ended: the sign-in page, then back here
        return;
      }
      if (!response.ok || !response.body || !streamed) {
        // an error page: show its message
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const shown = page.querySelector(".error");
        text.textContent = shown ? shown.textContent : `The question failed (${response.status}).`;
        text.className = "error";
        return;
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), (kind, data) => {
          if (kind === "token") text.textContent += data;
          else if (kind === "html") area.innerHTML = data;  // the server's escaped rendering
          else if (kind === "error") {
            text.textContent = `${data.title}: ${data.detail}`;
            text.className = "error";
          }
        });
      }
    } catch (err) {
      text.textContent = "The connection failed: " + err;
      text.className = "error";
    } finally {
      box.removeAttribute("aria-busy");
      button.disabled = false;
    }
  });
}

function enhanceDrop() {
  const drop = document.getElementById("drop");
  const input = document.getElementById("files");
  if (!drop || !input) return;
  const names = document.createElement("span");
  names.className = "hint";
  drop.append(names);
  const show = () => {
    names.textContent = Array.from(input.files).map((f) => f.name).join(", ");
  };
  input.addEventListener("change", show);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer && e.dataTransfer.files.length) {
      input.files = e.dataTransfer.files;
      show();
    }
  });
}

function enhanceUpload() {
  // Ingesting embeds every passage: say so while it runs, and keep the button from a second press.
  const form = document.getElementById("upload-form");
  if (!form) return;
  form.addEventListener("submit", () => {
    const button = form.querySelector("button[type=submit]");
    const count = document.getElementById("files").files.length;
    button.disabled = true;
    button.textContent = `Uploading and indexing ${count} file${count === 1 ? "" : "s"}…`;
    form.setAttribute("aria-busy", "true");
  });
}

document.addEventListener("DOMContentLoaded", () => {
  enhanceAsk();
  enhanceDrop();
  enhanceUpload();
});
