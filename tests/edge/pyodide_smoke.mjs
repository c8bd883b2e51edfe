// Runs the edge under real Pyodide (the interpreter of Cloudflare Python Workers), offline:
// imports every edge module, runs the pure core's smoke scenario, then drives the Worker shell
// (edge/worker.py) with real Fetch API objects: a Request in, an origin reached with fetch(),
// a Response out. The runtime-only modules the Workers SDK imports are supplied here as they are
// by workerd. Prints one JSON line of results for tests/edge/test_pyodide.py to check.
import { loadPyodide } from "pyodide";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";

const root = process.argv[2];
const py = await loadPyodide();

function mount(src, dst) {
  py.FS.mkdirTree(dst);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    if (entry.name === "__pycache__") continue;
    const from = path.join(src, entry.name);
    const to = `${dst}/${entry.name}`;
    if (entry.isDirectory()) mount(from, to);
    else py.FS.writeFile(to, fs.readFileSync(from));
  }
}
mount(path.join(root, "edge"), "/bundle");
mount(path.join(root, "python_modules"), "/bundle/python_modules");

// What workerd provides to the SDK.
py.registerJsModule("_pyodide_entrypoint_helper", {
  patchWaitUntil() {},
  doAnImport: (name) => import(name),
  cloudflareWorkersModule: {},
  cloudflareSocketsModule: {},
});
py.registerJsModule("_cloudflare_compat_flags", {});

// A stand-in origin: answers with what it received, so the test sees what the edge forwarded.
const origin = http.createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    res.writeHead(200, { "content-type": "application/json", "x-from": "origin" });
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
  });
});
await new Promise((resolve) => origin.listen(0, "127.0.0.1", resolve));
const originUrl = `http://127.0.0.1:${origin.address().port}`;

// The REVOCATIONS Durable Object namespace, as RPC stubs backed by a Set.
const revoked = new Set();
const revocationsNamespace = {
  getByName: () => ({
    is_revoked: async (keyId) => revoked.has(keyId),
    revoke: async (keyIds) => JSON.parse(keyIds).forEach((k) => revoked.add(k)),
  }),
};
// Durable Object SQL storage as the shell adapter sees it: exec() -> cursor.raw().toArray().
const sqlCalls = [];
const storage = {
  sql: {
    exec: (query, ...params) => {
      sqlCalls.push([query, params]);
      const rows = query.startsWith("SELECT") && revoked.has(params[0]) ? [[1]] : [];
      return { raw: () => ({ toArray: () => rows }) };
    },
  },
};

const env = {
  KEY_SECRET: "k".repeat(32),
  SERVICE_SECRET: "s".repeat(32),
  ORIGIN_URL: originUrl,
  REVOCATIONS: revocationsNamespace,
};
globalThis.__bw = { env, storage, Request, revoked, sqlCalls };

let results;
try {
  results = await py.runPythonAsync(String.raw`
import sys, json, pkgutil, importlib, asyncio
sys.path[:0] = ["/bundle", "/bundle/python_modules"]
import bwedge
imported = []
for info in pkgutil.walk_packages(bwedge.__path__, "bwedge."):
    importlib.import_module(info.name)
    imported.append(info.name)

from bwedge import keys, routes
from bwedge.keys import KeyClaims
claims = KeyClaims("key1", "ws1", "db1", "alpha", "read-write")
token = keys.mint(claims, b"k" * 32)
core = {
    "version": sys.version.split()[0],
    "key_round_trip": keys.verify(token, [b"k" * 32]) == claims,
    "route": routes.classify("POST", "/query").protocol,
}

import js
import worker
bw = js.__bw
shell = {}

async def call(url, **init):
    request = bw.Request.new(url, **init) if init else bw.Request.new(url)
    response = await worker.Default(js.Object.new(), bw.env).fetch(request)
    return response.js_object if hasattr(response, "js_object") else response

ok = await call(f"http://edge.test/query?api_key={token}", method="POST", body='{"x":1}')
echo = json.loads(await ok.text())
shell["ok_status"] = ok.status
shell["forwarded_path"] = echo["url"]
shell["forwarded_body"] = echo["body"]
shell["signed"] = "x-breakwater-service" in echo["headers"]
shell["key_kept_at_edge"] = "authorization" not in echo["headers"] and "api_key" not in echo["url"]
shell["origin_header_returned"] = ok.headers.get("x-from")

bad = await call("http://edge.test/query?api_key=nope", method="POST", body="{}")
shell["bad_status"] = bad.status
shell["bad_code"] = bad.headers.get("Prisma-Error-Code")

bw.revoked.add("key1")
worker._app.revocations.forget()  # as if this isolate's cache had expired
gone = await call(f"http://edge.test/query?api_key={token}", method="POST", body="{}")
shell["revoked_status"] = gone.status

store = worker.RevocationStore(worker._WorkerSql(bw.storage), lambda: 0.0)
shell["do_sql_adapter"] = [store.is_revoked("key1", "db1"), store.is_revoked("key2", "db1")]

json.dumps({"imported": imported, "core": core, "shell": shell})
`);
} catch (error) {
  // Pyodide errors carry the Python traceback in their message; the rest is minified noise.
  console.error(String(error.message ?? error).slice(-4000));
  process.exitCode = 1;
} finally {
  origin.close();
}
if (results) console.log(results);
