// Runs bench/edge_hitpath.py under real Pyodide (npm `pyodide`, the Python of Cloudflare Python
// Workers), offline: mounts the edge packages and the local Cache API, then prints run()'s JSON.
//   node bench/edge_pyodide.mjs ROOT REQUESTS ROUNDS PROFILE_HITS
import { loadPyodide } from "pyodide";
import fs from "node:fs";
import path from "node:path";

const [root, requests, rounds, profileHits] = process.argv.slice(2);
const py = await loadPyodide();

function mount(src, dst, only) {
  py.FS.mkdirTree(dst);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    if (entry.name === "__pycache__" || (only && !only.includes(entry.name))) continue;
    const from = path.join(src, entry.name);
    if (entry.isDirectory()) mount(from, `${dst}/${entry.name}`);
    else py.FS.writeFile(`${dst}/${entry.name}`, fs.readFileSync(from));
  }
}
mount(path.join(root, "edge"), "/bundle");
mount(path.join(root, "edge_local"), "/bundle/edge_local", ["__init__.py", "cache.py"]);
mount(path.join(root, "bench"), "/bundle", ["edge_hitpath.py"]);

try {
  const out = await py.runPythonAsync(`
import sys, json
sys.path[:0] = ["/bundle"]
import edge_hitpath
found = await edge_hitpath.run(${Number(requests)}, ${Number(rounds)}, ${Number(profileHits)})
found["version"] = sys.version.split()[0]
json.dumps(found)
`);
  console.log(out);
} catch (error) {
  console.error(String(error.message ?? error).slice(-4000));
  process.exitCode = 1;
}
