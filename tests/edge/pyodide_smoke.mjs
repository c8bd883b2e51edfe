// Runs the edge under real Pyodide (the interpreter of Cloudflare Python Workers), offline:
// imports every edge module, runs the pure core's smoke scenario, then drives the Worker shell
// (edge/worker.py) with real Fetch API objects: a Request in, an origin reached with fetch(),
// a Response out. The runtime-only modules the Workers SDK imports are supplied here as they are
// by workerd. Prints one JSON line of results for tests/edge/test_pyodide.py to check.
// One script (over 400 lines) because a Pyodide start costs seconds: every scenario shares one.
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

// caches.default as workerd exposes it: match/put keyed by GET URL, holding real Response objects.
const cachePuts = [];
const cacheStore = new Map();
globalThis.caches = {
  default: {
    match: async (key) => {
      const found = cacheStore.get(typeof key === "string" ? key : key.url);
      return found ? found.clone() : undefined;
    },
    put: async (key, response) => {
      const url = typeof key === "string" ? key : key.url;
      if (!(response instanceof Response)) throw new TypeError("put() takes a Response");
      cachePuts.push([url, response.headers.get("cache-control")]);
      cacheStore.set(url, response.clone());
    },
  },
};

// Durable Object SQL storage for TagVersions: just the statements TagVersionStore issues, over
// Maps, in the cursor shape the shell adapter reads (exec() -> cursor.raw().toArray()).
function tagVersionStorage() {
  const versions = new Map();
  let held = [];
  const exec = (query, ...params) => {
    let rows = [];
    if (query.startsWith("SELECT tag, version FROM tag_versions")) {
      rows = params.filter((t) => versions.has(t)).map((t) => [t, versions.get(t)]);
    } else if (query.startsWith("INSERT INTO tag_versions")) {
      versions.set(params[0], params[1]);
    } else if (query.startsWith("INSERT OR IGNORE INTO held_writes")) {
      if (!held.some((h) => h[0] === params[0] && h[1] === params[1])) held.push(params);
    } else if (query.startsWith("SELECT tag FROM held_writes")) {
      rows = held.filter((h) => h[0] === params[0]).map((h) => [h[1]]);
    } else if (query.startsWith("DELETE FROM held_writes WHERE tx_id")) {
      held = held.filter((h) => h[0] !== params[0]);
    } else if (query.startsWith("DELETE FROM held_writes WHERE held_at")) {
      held = held.filter((h) => h[2] >= params[0]);
    } else if (!query.startsWith("CREATE TABLE")) {
      throw new Error(`unexpected SQL: ${query}`);
    }
    return { raw: () => ({ toArray: () => rows }) };
  };
  return { sql: { exec } };
}
// The TAG_VERSIONS namespace: one real worker.TagVersions object per name (made by the Python side),
// called across the JS boundary with strings in and out, as over RPC.
const tagObjects = new Map();
const tagVersionsNamespace = {
  getByName: (name) => {
    if (!tagObjects.has(name)) tagObjects.set(name, globalThis.__bw.makeTagVersions(name));
    const object = tagObjects.get(name);
    const call = (method) => async (...args) => {
      const result = await object[method](...args);
      return result === undefined ? undefined : String(result);
    };
    return { read: call("read"), bump: call("bump"), hold: call("hold"), release: call("release") };
  },
};
// ctx.waitUntil: promises kept until the script drains them. A Python task arrives as a borrowed
// proxy; keeping our own copy is what workerd's patchWaitUntil does for Python awaitables.
const waiting = [];
const ctx = { waitUntil: (task) => waiting.push(task.copy ? task.copy() : task) };
const drain = async () => {
  while (waiting.length) await waiting.shift();
};
// The EVENT_QUEUES namespace as the Worker reaches it: RPC append, fetch for a WebSocket upgrade.
const queueCalls = [];
const eventQueuesNamespace = {
  getByName: (name) => ({
    append: async (body) => {
      queueCalls.push({ op: "append", name, body });
      return JSON.stringify({ stored: 1, duplicates: 0, head: "0000000000000010-00000000", models: ["users"] });
    },
    fetch: async (request) => {
      queueCalls.push({
        op: "fetch",
        name,
        upgrade: request.headers.get("upgrade"),
        subscription: request.headers.get("x-breakwater-subscription"),
        keyId: request.headers.get("x-breakwater-key-id"),
      });
      // Node cannot build a 101 Response; any Response shows it is passed through untouched.
      return new Response("from-queue", { status: 200, headers: { "x-queue": name } });
    },
    revoke: async (keyIds, everything) => {
      queueCalls.push({ op: "revoke", name, keyIds: JSON.parse(keyIds), everything });
      return 1;
    },
  }),
};
// The PLAN_LIMITS namespace (one object, "global"): RPC get/apply with JSON strings, over a Map.
const planLimits = new Map();
const planLimitsNamespace = {
  getByName: () => ({
    get: async (databaseId) =>
      JSON.stringify(planLimits.get(databaseId) ?? { database_id: databaseId, state: "ok", message: "", hint: "" }),
    apply: async (limitsJson) => JSON.parse(limitsJson).forEach((l) => planLimits.set(l.database_id, l)),
  }),
};
// R2 as a Map of text objects.
const objects = new Map();
const bucket = {
  put: async (key, value) => objects.set(key, String(value)),
  get: async (key) => (objects.has(key) ? { text: async () => objects.get(key) } : null),
  delete: async (keys) => keys.forEach((k) => objects.delete(k)),
};
// What the EventQueue Durable Object's shell touches on its ctx: SQL storage, alarms, the
// hibernation API (acceptWebSocket / getWebSockets by tag) and the sockets' attachments.
const doSql = [];
const alarms = [];
const accepted = [];
const makeSocket = (side) => ({
  side,
  sent: [],
  tags: [],
  attachment: null,
  send(text) {
    this.sent.push(text);
  },
  close(code, reason) {
    this.closedWith = [code, reason];
  },
  serializeAttachment(value) {
    this.attachment = value;
  },
  deserializeAttachment() {
    return this.attachment;
  },
});
globalThis.WebSocketPair = class {
  constructor() {
    this[0] = makeSocket("client");
    this[1] = makeSocket("server");
  }
};
const doCtx = {
  id: { toString: () => "0123abcd" },
  storage: {
    sql: {
      exec: (query, ...params) => {
        doSql.push(query);
        const rows = query.startsWith("SELECT count(*)") ? [[0]] : [];
        return { raw: () => ({ toArray: () => rows }) };
      },
    },
    setAlarm: async (ms) => alarms.push(ms),
  },
  acceptWebSocket: (ws, tags) => {
    ws.tags = Array.from(tags);
    accepted.push(ws);
  },
  getWebSockets: (tag) => accepted.filter((ws) => ws.tags.includes(tag)),
};

const env = {
  KEY_SECRET: "k".repeat(32),
  SERVICE_SECRET: "s".repeat(32),
  ORIGIN_URL: originUrl,
  REVOCATIONS: revocationsNamespace,
  TAG_VERSIONS: tagVersionsNamespace,
  EVENT_QUEUES: eventQueuesNamespace,
  EVENTS_BUCKET: bucket,
  PLAN_LIMITS: planLimitsNamespace,
};
let originCalls = 0;
origin.on("request", () => (originCalls += 1));
globalThis.__bw = {
  env, storage, Request, revoked, sqlCalls, ctx, drain, cachePuts, tagVersionStorage,
  originCalls: () => originCalls,
  queueCalls, objects, bucket, doCtx, doSql, alarms, accepted,
};

let results;
try {
  results = await py.runPythonAsync(String.raw`
import sys, json, pkgutil, importlib, asyncio
sys.path[:0] = ["/bundle", "/bundle/python_modules"]
import bwcontract, bwedge
imported = []
for package in (bwcontract, bwedge):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
        imported.append(info.name)

from bwcontract import keys
from bwcontract.keys import KeyClaims
from bwedge import routes
claims = KeyClaims("key1", "ws1", "db1", "alpha", "read-write")
token = keys.mint(claims, b"k" * 32)
core = {
    "version": sys.version.split()[0],
    "key_round_trip": keys.verify(token, [b"k" * 32]) == claims,
    "route": routes.classify("POST", "/query").protocol,
}

import js
import worker
from pyodide.ffi import create_proxy, to_js
bw = js.__bw
shell = {}

def make_tag_versions(name):
    state = js.Object.new()
    state.storage = bw.tagVersionStorage()
    return worker.TagVersions(state, bw.env)

bw.makeTagVersions = create_proxy(make_tag_versions)

async def call(url, **init):
    if "headers" in init:
        init["headers"] = to_js(init["headers"], dict_converter=js.Object.fromEntries)
    request = bw.Request.new(url, to_js(init, dict_converter=js.Object.fromEntries)) if init else bw.Request.new(url)
    response = await worker.Default(bw.ctx, bw.env).fetch(request)
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

store = worker.RevocationStore(worker.WorkerSql(bw.storage), lambda: 0.0)
shell["do_sql_adapter"] = [store.is_revoked("key1", "db1"), store.is_revoked("key2", "db1")]

# The cache: Cache API and TagVersions Durable Object paths of the shell.
bw.revoked.delete("key1")
worker._app.revocations.forget()
auth = {"authorization": f"Bearer {token}", "content-type": "application/json"}
find = '{"modelName":"Post","action":"findMany","query":{"arguments":{},"selection":{"$scalars":true}}}'
create = '{"modelName":"Post","action":"createOne","query":{"arguments":{"data":{}},"selection":{}}}'

async def cached(strategy, tags="posts", path="/v1/query", body=find):
    headers = {**auth, "cache-control": strategy, "accelerate-cache-tags": tags}
    response = await call(f"http://edge.test{path}", method="POST", body=body, headers=headers)
    return response.headers.get("accelerate-cache-status"), await response.text()

async def post(path, body):
    response = await call(f"http://edge.test{path}", method="POST", body=body, headers=auth)
    return response.status

cache = {}
calls = bw.originCalls()
miss, miss_body = await cached("max-age=60")
hit, hit_body = await cached("max-age=60")
cache["miss_then_hit"] = [miss, hit]
cache["hit_body_is_the_origins"] = hit_body == miss_body
cache["origin_calls"] = bw.originCalls() - calls
cache["puts"] = [list(p) for p in bw.cachePuts.to_py()]
cache["invalidate_status"] = await post("/invalidate", '{"tags":["posts"]}')
cache["after_invalidate"] = (await cached("max-age=60"))[0]
cache["after_hit"] = (await cached("max-age=60"))[0]
cache["write_status"] = await post("/v1/query", create)
cache["after_write"] = (await cached("max-age=60"))[0]
cache["tx_write"] = await post("/transaction/o1~abc/query", '{"model":"Post","operation":"createOne","plan":{}}')
cache["after_tx_write"] = (await cached("max-age=60"))[0]
cache["tx_commit"] = await post("/transaction/o1~abc/commit", "")
cache["after_commit"] = (await cached("max-age=60"))[0]
calls = bw.originCalls()
stale = [(await cached("max-age=0,stale-while-revalidate=60", "swr"))[0] for _ in range(2)]
await bw.drain()
cache["swr"] = stale
cache["swr_refreshed_in_background"] = bw.originCalls() - calls
cache["do_versions"] = json.loads(worker.TagVersions(
    js.Object.fromEntries(to_js({"storage": bw.tagVersionStorage()})), bw.env
).store.bump(["t:a"]).to_json())["tags"]
shell["cache"] = cache

# A database over its plan's limit: pushed into the PlanLimits object, refused with P6003.
from bwcontract.usage import PlanLimit
await worker._app.plan_limits.apply([PlanLimit("db1", "stopped", "over the limit", "raise it")])
limited = await call(f"http://edge.test/v1/query", method="POST", body=find, headers=auth)
shell["plan_limit"] = [limited.status, limited.headers.get("Prisma-Error-Code")]
await worker._app.plan_limits.apply([PlanLimit("db1", "ok")])

# --- the event queue's shell paths ---------------------------------------------------------------
from bwcontract import service
queue = {}
reader_token = keys.mint(KeyClaims("key2", "ws1", "db1", "alpha", "read"), b"k" * 32)  # key1 is revoked now
wanted = "models=users&actions=create&name=s1&where=" + js.encodeURIComponent('{"id":{"gt":1}}')
upgrade = await call(f"http://edge.test/v1/stream?{wanted}", headers=js.Object.fromEntries(
    js.JSON.parse('[["upgrade","websocket"],["authorization","Bearer ' + reader_token + '"]]')))
queue["stream_status"] = upgrade.status
queue["stream_from_queue"] = upgrade.headers.get("x-queue")
handed = [c for c in bw.queueCalls.to_py() if c["op"] == "fetch"][0]
queue["stream_handed_to"] = [
    handed["name"], handed["upgrade"], json.loads(handed["subscription"])["where"], handed["keyId"]
]
no_upgrade = await call(f"http://edge.test/v1/stream?api_key={reader_token}")
queue["plain_get_status"] = no_upgrade.status

body = b'{"events":[{"offset":"0000000000000010-00000000","modelName":"users","action":"create"}]}'
path = "/_bw/events/db1"
changed = []
async def listener(database_id, models):
    changed.append([database_id, models])
worker._app.change_listeners.append(listener)
signed = service.sign(b"s" * 32, "edge", {"op": "events", "d": "db1"}, "POST", path, body, __import__("time").time())
pushed = await call(f"http://edge.test{path}", method="POST", body=body.decode(),
                    headers=js.Object.fromEntries(js.JSON.parse('[["x-breakwater-service","' + signed + '"]]')))
queue["push_status"] = pushed.status
queue["push_answer"] = json.loads(await pushed.text())["stored"]
queue["push_reached_queue"] = [c["name"] for c in bw.queueCalls.to_py() if c["op"] == "append"]
queue["change_listener"] = changed
revocation = b'{"key_ids":["key2"],"database_ids":[],"key_databases":{"key2":"db1"}}'
signed = service.sign(b"s" * 32, "edge", {"op": "revoke"}, "POST", "/_bw/revocations", revocation,
                      __import__("time").time())
revoked_push = await call("http://edge.test/_bw/revocations", method="POST", body=revocation.decode(),
                          headers=js.Object.fromEntries(js.JSON.parse('[["x-breakwater-service","' + signed + '"]]')))
queue["revocation_status"] = revoked_push.status
queue["revocation_reached_queue"] = [
    [c["name"], c["keyIds"], c["everything"]] for c in bw.queueCalls.to_py() if c["op"] == "revoke"
]
unsigned = await call(f"http://edge.test{path}", method="POST", body=body.decode())
queue["unsigned_push_status"] = unsigned.status

blobs = worker.R2Blobs(bw.env.EVENTS_BUCKET)
await blobs.put("events/x/a.json", '{"big":true}')
queue["r2_round_trip"] = [await blobs.get("events/x/a.json"), await blobs.get("events/x/missing")]
await blobs.delete(["events/x/a.json"])
queue["r2_deleted"] = await blobs.get("events/x/a.json") is None

responses = []
worker.Response = lambda *args, **kwargs: responses.append(kwargs) or kwargs  # Node cannot make a 101
durable = worker.EventQueue(bw.doCtx, bw.env)
sub = json.dumps({"models": ["users"], "actions": ["create"], "name": None, "offset": "latest", "window": 10})
request = bw.Request.new("https://queue/db1", headers=js.Object.fromEntries(
    js.JSON.parse(json.dumps([["upgrade", "websocket"], ["x-breakwater-subscription", sub]]))))
answer = await durable.fetch(request)
server_socket = bw.accepted[0]
queue["do_upgrade"] = [answer["status"], answer["web_socket"].side, server_socket.side, len(server_socket.attachment)]
queue["do_ready"] = json.loads(server_socket.sent[0])["type"]
await durable.webSocketMessage(server_socket, '{"type":"ack","offset":"0000000000000000-00000000"}')
await durable.webSocketClose(server_socket, 1000, "bye", True)
queue["do_revoke"] = [await durable.revoke('["key2"]', False), any(
    q.startswith("INSERT OR IGNORE INTO revoked_keys") for q in bw.doSql.to_py())]
stored = json.loads(await durable.append(body.decode()))
queue["do_append"] = [stored["stored"], stored["models"], len(bw.alarms) == 1]
queue["do_bad_batch"] = "error" in json.loads(await durable.append("{}"))
await durable.alarm()
queue["do_sql_ran"] = any(q.startswith("INSERT INTO events") for q in bw.doSql.to_py())

json.dumps({"imported": imported, "core": core, "shell": shell, "queue": queue})
`);
} catch (error) {
  // Pyodide errors carry the Python traceback in their message; the rest is minified noise.
  console.error(String(error.message ?? error).slice(-4000));
  process.exitCode = 1;
} finally {
  origin.close();
}
if (results) console.log(results);
