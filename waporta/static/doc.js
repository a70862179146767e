// waporta /doc page: reads openapi.json from this server, lists every operation, and lets you fill in
// the parameters and body and send the request with a bearer token or an API key.
// Vanilla JS, no dependencies, nothing loaded from elsewhere. Text is always set with textContent.
"use strict";

(function () {
  const METHODS = ["get", "post", "put", "patch", "delete"];
  let spec = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function resolve(schema, depth) {
    if (!schema || typeof schema !== "object" || (depth || 0) > 8) return schema || {};
    if (typeof schema.$ref === "string" && schema.$ref.startsWith("#/components/schemas/")) {
      const name = schema.$ref.slice("#/components/schemas/".length);
      return resolve(((spec.components || {}).schemas || {})[name], (depth || 0) + 1);
    }
    return schema;
  }

  // A plausible example value for a JSON schema: example, const, enum, default, then by type.
  function example(schema, depth) {
    schema = resolve(schema, depth);
    if ((depth || 0) > 6) return null;
    if ("example" in schema) return schema.example;
    if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
    if ("const" in schema) return schema.const;
    if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
    if ("default" in schema) return schema.default;
    const type = Array.isArray(schema.type) ? schema.type[0] : schema.type;
    if (type === "object" || schema.properties) {
      const out = {};
      for (const [name, sub] of Object.entries(schema.properties || {})) {
        out[name] = example(sub, (depth || 0) + 1);
      }
      return out;
    }
    if (type === "array") return [example(schema.items || {}, (depth || 0) + 1)];
    if (type === "integer" || type === "number") return 0;
    if (type === "boolean") return true;
    if (type === "string") return "string";
    return null;
  }

  function credentialHeaders() {
    const headers = {};
    const token = document.getElementById("token").value.trim();
    const key = document.getElementById("apikey").value.trim();
    if (token) headers["Authorization"] = "Bearer " + token;
    if (key) headers["X-API-Key"] = key;
    return headers;
  }

  function schemeText(name) {
    const scheme = ((spec.components || {}).securitySchemes || {})[name] || {};
    if (scheme.type === "http" && scheme.scheme === "bearer") return "a bearer token";
    if (scheme.type === "apiKey") return "an " + scheme.name + " header";
    return name;
  }

  function securityText(op) {
    const sec = op.security || [];
    if (!sec.length) return "no credentials needed";
    const names = sec.map((req) => Object.keys(req).map(schemeText).join(" + "));
    return "needs " + names.join(" or ");
  }

  async function send(method, path, op, inputs, bodyArea, output) {
    let url = path;
    const query = new URLSearchParams();
    for (const { param, input } of inputs) {
      const value = input.value;
      if (param.in === "path") {
        if (!value) {
          output.replaceChildren(el("p", { class: "status-err", text: "fill in " + param.name }));
          return;
        }
        url = url.replace("{" + param.name + "}", encodeURIComponent(value));
      } else if (param.in === "query" && value !== "") {
        query.set(param.name, value);
      }
    }
    if ([...query.keys()].length) url += "?" + query.toString();
    const init = { method: method.toUpperCase(), headers: credentialHeaders() };
    if (bodyArea && bodyArea.value.trim() !== "") {
      init.headers["Content-Type"] = "application/json";
      init.body = bodyArea.value;
    }
    output.replaceChildren(el("p", { class: "muted", text: "sending " + init.method + " " + url + " …" }));
    let response;
    try {
      response = await fetch(url.replace(/^\//, ""), init);
    } catch (err) {
      output.replaceChildren(el("p", { class: "status-err", text: "request failed: " + err }));
      return;
    }
    const text = await response.text();
    let pretty = text;
    let parsed = null;
    try {
      parsed = JSON.parse(text);
      pretty = JSON.stringify(parsed, null, 2);
    } catch (_) { /* not JSON: show as is */ }
    const statusClass = response.ok ? "status-ok" : "status-err";
    const parts = [
      el("p", {}, el("span", { class: statusClass, text: response.status + " " + response.statusText }),
        " ", el("span", { class: "muted", text: init.method + " " + url })),
      el("pre", { text: pretty.length > 200000 ? pretty.slice(0, 200000) + "\n…" : pretty }),
    ];
    if (parsed && typeof parsed.token === "string") {
      const use = el("button", { type: "button", text: "Use this token" });
      use.addEventListener("click", () => { document.getElementById("token").value = parsed.token; });
      parts.push(use);
    }
    output.replaceChildren(...parts);
  }

  function operationBlock(path, method, op) {
    const box = el("div");
    if (op.description) box.append(el("p", { text: op.description }));
    box.append(el("p", { class: "lock", text: securityText(op) }));

    const inputs = [];
    const params = op.parameters || [];
    if (params.length) {
      box.append(el("h3", { text: "Parameters" }));
      const row = el("div", { class: "row" });
      for (const raw of params) {
        const param = resolve(raw);
        const schema = resolve(param.schema || {});
        const input = el("input", { "aria-label": param.name, spellcheck: "false" });
        const sample = "example" in schema ? schema.example : (Array.isArray(schema.enum) ? schema.enum[0] : undefined);
        if (sample !== undefined && sample !== null && typeof sample !== "object") input.value = String(sample);
        const label = el("label", {}, param.name + " (" + param.in + (param.required ? ", required" : "") + ")", input);
        if (param.description) label.title = param.description;
        row.append(label);
        inputs.push({ param, input });
      }
      box.append(row);
    }

    let bodyArea = null;
    const body = op.requestBody && (op.requestBody.content || {})["application/json"];
    if (body) {
      box.append(el("h3", { text: "Request body (JSON)" }));
      bodyArea = el("textarea", { spellcheck: "false", "aria-label": "request body" });
      bodyArea.value = JSON.stringify(example(body.schema || {}), null, 2);
      box.append(bodyArea);
      box.append(el("details", {}, el("summary", { text: "request schema" }),
        el("pre", { text: JSON.stringify(resolve(body.schema || {}), null, 2) })));
    }

    const responses = op.responses || {};
    const list = el("details", {}, el("summary", { text: "responses" }));
    for (const [status, resp] of Object.entries(responses)) {
      list.append(el("h3", { text: status + " — " + (resp.description || "") }));
      const content = (resp.content || {})["application/json"];
      if (content && content.schema) list.append(el("pre", { text: JSON.stringify(resolve(content.schema), null, 2) }));
    }
    box.append(list);

    const output = el("div", { class: "output", "aria-live": "polite" });
    const button = el("button", { type: "button", text: "Send " + method.toUpperCase() });
    button.addEventListener("click", () => send(method, path, op, inputs, bodyArea, output));
    box.append(el("p", {}, button), output);

    const summary = el("summary", {},
      el("span", { class: "method " + method, text: method }),
      el("span", { class: "path", text: path }),
      el("span", { class: "muted", text: op.summary || "" }),
      (op.security && op.security.length) ? el("span", { class: "badge", text: "auth" }) : null);
    const details = el("details", { class: "op" }, summary, box);
    if (op.operationId) details.id = op.operationId;
    details.dataset.search = (method + " " + path + " " + (op.summary || "")).toLowerCase();
    return details;
  }

  function render() {
    document.getElementById("title").textContent = (spec.info.title || "API") + " " + (spec.info.version || "");
    document.getElementById("description").textContent = spec.info.description || "";
    const groups = new Map();
    for (const [path, item] of Object.entries(spec.paths || {})) {
      for (const method of METHODS) {
        const op = item[method];
        if (!op) continue;
        const tag = (op.tags && op.tags[0]) || "Other";
        if (!groups.has(tag)) groups.set(tag, []);
        groups.get(tag).push(operationBlock(path, method, op));
      }
    }
    const target = document.getElementById("operations");
    target.replaceChildren();
    for (const [tag, blocks] of [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      const section = el("section", { class: "group" }, el("h2", { class: "tag", text: tag }), ...blocks);
      target.append(section);
    }
    // a link such as /doc#rest_webhooks.create.post opens that operation
    const wanted = decodeURIComponent(location.hash.slice(1));
    const linked = wanted && document.getElementById(wanted);
    if (linked && linked.matches("details.op")) {
      linked.open = true;
      linked.scrollIntoView();
    }
  }

  function applyFilter() {
    const needle = document.getElementById("filter").value.trim().toLowerCase();
    for (const details of document.querySelectorAll("details.op")) {
      details.hidden = needle !== "" && !details.dataset.search.includes(needle);
    }
    for (const section of document.querySelectorAll("section.group")) {
      section.hidden = [...section.querySelectorAll("details.op")].every((d) => d.hidden);
    }
  }

  async function login(event) {
    event.preventDefault();
    const status = document.getElementById("login-status");
    status.textContent = "logging in…";
    try {
      const response = await fetch("api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          username: document.getElementById("username").value,
          password: document.getElementById("password").value,
        }),
      });
      const data = await response.json();
      if (response.ok && typeof data.token === "string") {
        document.getElementById("token").value = data.token;
        document.getElementById("password").value = "";
        status.textContent = "logged in; token valid until " + data.expiresAt;
      } else {
        status.textContent = response.status + ": " + (data.message || data.error || "login failed");
      }
    } catch (err) {
      status.textContent = "login failed: " + err;
    }
  }

  async function main() {
    document.getElementById("filter").addEventListener("input", applyFilter);
    document.getElementById("login").addEventListener("submit", login);
    try {
      const response = await fetch("openapi.json");
      spec = await response.json();
      render();
    } catch (err) {
      document.getElementById("operations").replaceChildren(
        el("p", { class: "status-err", text: "could not load openapi.json: " + err }));
    }
  }

  main();
})();
