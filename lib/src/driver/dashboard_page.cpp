// The dashboard page: one HTML document with its style and script inline (no external
// resource: it works offline and the Content-Security-Policy forbids any). The script polls
// /api/state every second and redraws the numbers, the tables and the task-stream canvas.
#include "driver/dashboard_render.hpp"

namespace shmray::driver {

const char* const kDashboardPage = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>shmray dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
h1{font-size:20px;margin:0 0 8px} h2{font-size:15px;margin:16px 0 6px}
.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px 12px;min-width:90px}
.card b{display:block;font-size:20px} .card span{color:#666;font-size:12px}
table{border-collapse:collapse;background:#fff;font-size:13px} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f0f0f0} td.l,th.l{text-align:left} #status{color:#666;font-size:12px}
canvas{background:#fff;border:1px solid #ddd} .legend span{display:inline-block;margin-right:10px;font-size:12px}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}
</style></head><body>
<h1>shmray dashboard</h1>
<div id="status">connecting&hellip; <span id="updates">0</span> updates</div>
<h2>Tasks</h2>
<div class="cards">
<div class="card"><b id="tasks-queued">-</b><span>queued</span></div>
<div class="card"><b id="tasks-waiting">-</b><span>waiting on deps</span></div>
<div class="card"><b id="tasks-running">-</b><span>running</span></div>
<div class="card"><b id="tasks-finished">-</b><span>finished</span></div>
<div class="card"><b id="tasks-failed">-</b><span>failed</span></div>
<div class="card"><b id="tasks-cancelled">-</b><span>cancelled</span></div>
<div class="card"><b id="throughput">-</b><span>tasks/s (last second)</span></div>
<div class="card"><b id="retries">-</b><span>retries</span></div>
<div class="card"><b id="restarts">-</b><span>restarts</span></div>
</div>
<h2>Task stream (last 30 s; one row per worker, colour by function)</h2>
<canvas id="stream" width="900" height="120"></canvas><div class="legend" id="legend"></div>
<h2>Workers (<span id="workers-count">-</span>)</h2>
<table id="workers"><thead><tr><th>slot</th><th>pid</th><th class="l">kind</th><th class="l">state</th><th class="l">task</th>
<th>for (s)</th><th>tasks run</th><th>RSS (MiB)</th><th>CPU %</th></tr></thead><tbody></tbody></table>
<h2>Functions</h2>
<table id="functions"><thead><tr><th class="l">function</th><th>queued</th><th>waiting</th><th>running</th><th>finished</th>
<th>failed</th><th>cancelled</th><th>p50 (ms)</th><th>p99 (ms)</th></tr></thead><tbody></tbody></table>
<h2>Object store</h2>
<div class="cards">
<div class="card"><b id="store-objects">-</b><span>objects</span></div>
<div class="card"><b id="store-bytes">-</b><span>payload MiB</span></div>
<div class="card"><b id="store-spans">-</b><span>spans MiB taken</span></div>
<div class="card"><b id="store-capacity">-</b><span>capacity MiB</span></div>
</div>
<table id="largest"><thead><tr><th class="l">largest objects</th><th>bytes</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const $=id=>document.getElementById(id);
const mib=b=>(b/1048576).toFixed(1);
const colors=["#4e79a7","#f28e2b","#e15759","#76b7b2","#59a14f","#edc948","#b07aa1","#ff9da7","#9c755f","#bab0ac"];
let updates=0;
function cell(text,cls){const td=document.createElement("td");td.textContent=text;if(cls)td.className=cls;return td;}
function rows(id,list,f){const tb=$(id).tBodies[0];tb.replaceChildren();for(const x of list){const tr=document.createElement("tr");for(const c of f(x))tr.appendChild(c);tb.appendChild(tr);}}
function drawStream(st,names){
  const cv=$("stream"),g=cv.getContext("2d"),n=Math.max(st.samples,1),rh=Math.max(6,Math.min(20,110/Math.max(1,st.rows.length)));
  cv.height=Math.max(40,rh*st.rows.length+10);g.clearRect(0,0,cv.width,cv.height);
  const w=cv.width/300,used=new Set();
  st.rows.forEach((r,i)=>{r.cells.forEach((c,k)=>{if(c===null||c===-1)return;
    g.fillStyle=c===-2?"#ccc":colors[c%colors.length];if(c>=0)used.add(c);
    g.fillRect(cv.width-(n-k)*w,5+i*rh,Math.ceil(w),rh-2);});});
  $("legend").replaceChildren(...[...used].map(c=>{const s=document.createElement("span");const i=document.createElement("i");
    i.style.background=colors[c%colors.length];s.append(i,names[c]||"?");return s;}));
}
function show(s){
  for(const k of ["queued","waiting","running","finished","failed","cancelled"])$("tasks-"+k).textContent=s.tasks[k];
  $("throughput").textContent=s.throughput_per_s.toFixed(1);$("retries").textContent=s.retries;$("restarts").textContent=s.restarts;
  $("workers-count").textContent=s.pool_workers;
  rows("workers",s.workers,w=>[cell(w.slot),cell(w.pid),cell(w.kind,"l"),cell(w.state,"l"),cell(w.task===null?"":w.task,"l"),
    cell(w.task===null?"":w.running_for_s.toFixed(2)),cell(w.tasks_run),cell(mib(w.rss_bytes)),cell(w.cpu_percent.toFixed(0))]);
  rows("functions",s.functions,f=>[cell(f.name,"l"),cell(f.queued),cell(f.waiting),cell(f.running),cell(f.finished),
    cell(f.failed),cell(f.cancelled),cell((f.p50_s*1e3).toFixed(2)),cell((f.p99_s*1e3).toFixed(2))]);
  $("store-objects").textContent=s.store.objects;$("store-bytes").textContent=mib(s.store.payload_bytes);
  $("store-spans").textContent=mib(s.store.span_bytes);$("store-capacity").textContent=mib(s.store.capacity_bytes);
  rows("largest",s.store.largest,o=>[cell(o.id,"l"),cell(o.bytes)]);
  drawStream(s.stream,s.function_names);
  $("status").firstChild.textContent="live (driver pid "+s.driver_pid+", up "+s.uptime_s.toFixed(0)+" s) ";
  $("updates").textContent=++updates;
}
async function poll(){
  try{const r=await fetch("/api/state",{cache:"no-store"});if(!r.ok)throw new Error(r.status);show(await r.json());}
  catch(e){$("status").firstChild.textContent="disconnected ("+e.message+"), retrying ";}
  setTimeout(poll,1000);
}
poll();
</script></body></html>
)HTML";

}  // namespace shmray::driver
