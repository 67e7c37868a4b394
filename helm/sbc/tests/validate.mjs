// Validates rendered chart output against the Kubernetes API schemas (kubernetes-models) and checks
// that the objects fit together (selectors, named ports, referenced ConfigMaps/Secrets).
//
//   node validate.mjs FILE...     validate every object in each multi-document YAML file
//   node validate.mjs --self-test prove that broken objects are rejected and a good one passes
//
// Needs the packages scripts/install-helm.sh installs into build/tools/node; run with
// NODE_PATH unset: modules are resolved from that prefix (see SBC_NODE_MODULES below).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const modules =
  process.env.SBC_NODE_MODULES ?? path.resolve(here, "../../../build/tools/node/node_modules");
const require = createRequire(path.join(modules, "noop.js"));
const load = (spec) => import(pathToFileURL(require.resolve(spec)).href);

const YAML = await load("yaml");

// Which model validates which apiVersion/kind. CRD kinds come from the CRD model packages.
const modelModule = {
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Service": "kubernetes-models/v1/Service",
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "v1/Secret": "kubernetes-models/v1/Secret",
  "apps/v1/Deployment": "kubernetes-models/apps/v1/Deployment",
  "apps/v1/DaemonSet": "kubernetes-models/apps/v1/DaemonSet",
  "policy/v1/PodDisruptionBudget": "kubernetes-models/policy/v1/PodDisruptionBudget",
  "autoscaling/v2/HorizontalPodAutoscaler": "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler",
  "networking.k8s.io/v1/NetworkPolicy": "kubernetes-models/networking.k8s.io/v1/NetworkPolicy",
  "monitoring.coreos.com/v1/ServiceMonitor":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
  "monitoring.coreos.com/v1/PrometheusRule":
    "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule",
  "cert-manager.io/v1/Certificate": "@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate",
};
const crdKinds = new Set(["ServiceMonitor", "PrometheusRule", "Certificate"]);

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

async function modelFor(obj) {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const spec = modelModule[key];
  if (!spec) return null;
  const mod = await load(spec);
  return mod[obj.kind] ?? mod.default?.[obj.kind] ?? null;
}

// Schema validation plus generic metadata rules. Returns a list of error strings.
async function validateObject(obj) {
  const errors = [];
  if (!obj || typeof obj !== "object") return ["not an object"];
  for (const f of ["apiVersion", "kind", "metadata"]) if (!obj[f]) errors.push(`missing ${f}`);
  if (errors.length) return errors;
  const name = obj.metadata.name;
  if (typeof name !== "string" || !dns1123Subdomain.test(name) || name.length > 253)
    errors.push(`metadata.name ${JSON.stringify(name)} is not a DNS-1123 subdomain`);
  if (["Service", "Deployment", "DaemonSet"].includes(obj.kind) && (name?.length ?? 0) > 63)
    errors.push(`metadata.name ${name} is longer than 63 characters`);
  for (const [k, v] of Object.entries(obj.metadata.labels ?? {})) {
    if (typeof v !== "string" || v.length > 63 || !labelValue.test(v))
      errors.push(`label ${k}=${JSON.stringify(v)} is not a valid label value`);
  }
  if (crdKinds.has(obj.kind) && (typeof obj.spec !== "object" || obj.spec === null))
    errors.push(`${obj.kind} has no spec`);
  const Model = await modelFor(obj);
  if (!Model) {
    errors.push(`no schema known for ${obj.apiVersion} ${obj.kind}`);
    return errors;
  }
  try {
    new Model(obj).validate();
  } catch (e) {
    errors.push(`schema: ${String(e.message ?? e).split("\n").slice(0, 5).join("; ")}`);
  }
  return errors;
}

const matches = (selector, labels) =>
  Object.entries(selector ?? {}).every(([k, v]) => (labels ?? {})[k] === v);

// Checks across the objects of one rendering.
function crossCheck(objs) {
  const errors = [];
  const seen = new Set();
  for (const o of objs) {
    const id = `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;
    if (seen.has(id)) errors.push(`duplicate object ${id}`);
    seen.add(id);
  }
  const byKind = (k) => objs.filter((o) => o.kind === k);
  const workloads = [...byKind("Deployment"), ...byKind("DaemonSet")];
  const configMaps = new Set(byKind("ConfigMap").map((o) => o.metadata.name));
  for (const w of workloads) {
    const tpl = w.spec.template;
    if (!matches(w.spec.selector.matchLabels, tpl.metadata?.labels))
      errors.push(`${w.kind} ${w.metadata.name}: selector does not match its pod labels`);
    const podSpec = tpl.spec;
    for (const c of podSpec.containers) {
      const portNames = new Set();
      for (const p of c.ports ?? []) {
        if (p.name && (!dns1123Label.test(p.name) || p.name.length > 15))
          errors.push(`container ${c.name}: port name ${p.name} is not an IANA_SVC_NAME`);
        if (p.name && portNames.has(p.name)) errors.push(`container ${c.name}: duplicate port ${p.name}`);
        portNames.add(p.name);
      }
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
        const port = probe?.httpGet?.port;
        if (typeof port === "string" && !portNames.has(port))
          errors.push(`container ${c.name}: probe uses unknown port ${port}`);
      }
      const vols = new Set((podSpec.volumes ?? []).map((v) => v.name));
      for (const m of c.volumeMounts ?? [])
        if (!vols.has(m.name)) errors.push(`container ${c.name}: mount of unknown volume ${m.name}`);
    }
    // The ConfigMap holding the SBC's configuration must be rendered; others (the core's CA
    // bundle, e.g. one filled by trust-manager) may come from the cluster.
    const configVolumes = new Set(
      podSpec.containers.flatMap((c) => (c.volumeMounts ?? []).filter((m) => m.mountPath === "/etc/sbc/sbc.yaml").map((m) => m.name)),
    );
    for (const v of podSpec.volumes ?? [])
      if (v.configMap && configVolumes.has(v.name) && !configMaps.has(v.configMap.name))
        errors.push(`${w.kind} ${w.metadata.name}: volume ${v.name} uses ConfigMap ${v.configMap.name} not rendered`);
    // A workload's selector must not take the pods of another (the trial Redis beside the SBC).
    for (const other of workloads)
      if (other !== w && matches(w.spec.selector.matchLabels, other.spec.template.metadata?.labels))
        errors.push(`${w.kind} ${w.metadata.name}: selector also matches the pods of ${other.kind} ${other.metadata.name}`);
    const grace = podSpec.terminationGracePeriodSeconds;
    for (const c of podSpec.containers) {
      const cmd = c.lifecycle?.preStop?.exec?.command;
      const sleep = cmd && cmd[0] === "sleep" ? Number(cmd[1]) : 0;
      if (!(grace > sleep)) errors.push(`terminationGracePeriodSeconds ${grace} not above preStop sleep ${sleep}`);
    }
  }
  // Services, PodDisruptionBudgets and NetworkPolicies: each selects the pods of exactly one
  // workload (a selector taking two workloads' pods, or none, is a mistake).
  const podsOf = (selector) => workloads.filter((w) => matches(selector, w.spec.template.metadata?.labels));
  const selects = (what, selector) => {
    const hit = podsOf(selector);
    if (hit.length === 0) errors.push(`${what}: selector matches no pod`);
    if (hit.length > 1) errors.push(`${what}: selector matches the pods of ${hit.map((w) => w.metadata.name).join(" and ")}`);
    return hit;
  };
  for (const s of byKind("Service")) {
    const hit = selects(`Service ${s.metadata.name}`, s.spec.selector);
    const names = new Set(hit.flatMap((w) => w.spec.template.spec.containers.flatMap((c) => (c.ports ?? []).map((p) => p.name))));
    for (const p of s.spec.ports ?? [])
      if (hit.length && typeof p.targetPort === "string" && !names.has(p.targetPort))
        errors.push(`Service ${s.metadata.name}: targetPort ${p.targetPort} is not a container port`);
    if (s.spec.externalTrafficPolicy && s.spec.type === "ClusterIP")
      errors.push(`Service ${s.metadata.name}: externalTrafficPolicy on a ClusterIP Service`);
  }
  for (const o of byKind("PodDisruptionBudget")) selects(`PodDisruptionBudget ${o.metadata.name}`, o.spec.selector.matchLabels);
  for (const np of byKind("NetworkPolicy")) selects(`NetworkPolicy ${np.metadata.name}`, np.spec.podSelector.matchLabels);
  for (const h of byKind("HorizontalPodAutoscaler")) {
    const t = h.spec.scaleTargetRef;
    const w = workloads.find((o) => o.kind === t.kind && o.metadata.name === t.name);
    if (!w) errors.push(`HPA ${h.metadata.name}: target ${t.kind}/${t.name} not rendered`);
    else if (w.spec.replicas !== undefined) errors.push(`HPA ${h.metadata.name}: ${w.kind} also sets spec.replicas`);
  }
  for (const sm of byKind("ServiceMonitor")) {
    const svc = byKind("Service").find((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
    if (!svc) errors.push(`ServiceMonitor ${sm.metadata.name}: selects no rendered Service`);
    else
      for (const ep of sm.spec.endpoints)
        if (!(svc.spec.ports ?? []).some((p) => p.name === ep.port))
          errors.push(`ServiceMonitor ${sm.metadata.name}: Service ${svc.metadata.name} has no port ${ep.port}`);
  }
  return errors;
}

function parseDocuments(text, file) {
  const docs = YAML.parseAllDocuments(text, { uniqueKeys: true, prettyErrors: true });
  const objs = [];
  const errors = [];
  for (const d of docs) {
    for (const e of d.errors) errors.push(`${file}: YAML: ${e.message}`);
    const o = d.toJS();
    if (o !== null && o !== undefined) objs.push(o);
  }
  return { objs, errors };
}

async function validateText(text, file) {
  const { objs, errors } = parseDocuments(text, file);
  for (const o of objs) {
    const id = `${o?.kind ?? "?"}/${o?.metadata?.name ?? "?"}`;
    for (const e of await validateObject(o)) errors.push(`${file}: ${id}: ${e}`);
  }
  if (!errors.length) for (const e of crossCheck(objs)) errors.push(`${file}: ${e}`);
  return { count: objs.length, errors };
}

async function selfTest() {
  const good = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "sbc", labels: { a: "b" } },
    spec: {
      selector: { matchLabels: { a: "b" } },
      template: {
        metadata: { labels: { a: "b" } },
        spec: {
          terminationGracePeriodSeconds: 10,
          containers: [
            {
              name: "sbc",
              image: "sbc:1",
              ports: [{ name: "metrics", containerPort: 9460, protocol: "TCP" }],
              readinessProbe: { httpGet: { path: "/readyz", port: "metrics" } },
            },
          ],
        },
      },
    },
  };
  const svc = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "sbc" },
    spec: { selector: { a: "b" }, ports: [{ name: "metrics", port: 9460, targetPort: "metrics" }] },
  };
  // Each broken variant, with a fragment its error must contain (so a rejection for an
  // unrelated reason does not count).
  const broken = {
    "containerPort is a string": [(o) => (o.spec.template.spec.containers[0].ports[0].containerPort = "9460"), "containerPort must be integer"],
    "port protocol SCTPX": [(o) => (o.spec.template.spec.containers[0].ports[0].protocol = "SCTPX"), "protocol must be equal to one of"],
    "selector missing": [(o) => delete o.spec.selector, "must have required property selector"],
    "container without name": [(o) => delete o.spec.template.spec.containers[0].name, "must have required property name"],
    "replicas is a string": [(o) => (o.spec.replicas = "two"), "replicas must be integer"],
    "name with capitals": [(o) => (o.metadata.name = "Bad_Name"), "is not a DNS-1123 subdomain"],
    "probe on unknown port": [(o) => (o.spec.template.spec.containers[0].readinessProbe.httpGet.port = "nope"), "probe uses unknown port nope"],
    "selector not matching pods": [(o) => (o.spec.selector.matchLabels.a = "c"), "selector does not match its pod labels"],
  };
  let failures = 0;
  const check = async (label, docs, expectValid, fragment = "") => {
    const text = docs.map((d) => YAML.stringify(d)).join("---\n");
    const { errors } = await validateText(text, "self-test");
    const valid = errors.length === 0;
    if (valid !== expectValid || (!valid && !errors.some((e) => e.includes(fragment)))) {
      failures++;
      console.log(`self-test FAIL: ${label}: expected ${expectValid ? "valid" : "rejected"}; ${errors.join(" | ")}`);
    } else {
      console.log(`self-test ok: ${label}${valid ? "" : ` -> ${errors[0]}`}`);
    }
  };
  await check("valid Deployment + Service", [good, svc], true);
  for (const [label, [breakIt, fragment]] of Object.entries(broken)) {
    const o = structuredClone(good);
    breakIt(o);
    await check(label, [o, svc], false, fragment);
  }
  const redis = structuredClone(good);
  redis.metadata.name = "redis";
  redis.spec.selector.matchLabels = { a: "b", c: "redis" };
  redis.spec.template.metadata.labels = { a: "b", c: "redis" };
  await check("a selector that also takes another workload's pods", [good, svc, redis], false, "selector also matches the pods of Deployment redis");
  redis.spec.selector.matchLabels = { a: "redis" };
  redis.spec.template.metadata.labels = { a: "redis" };
  await check("a second workload with labels of its own", [good, svc, redis], true);
  const wideSvc = structuredClone(svc);
  wideSvc.spec.selector = {};
  await check("a Service selecting two workloads' pods", [good, wideSvc, redis], false, "selector matches the pods of sbc and redis");
  const badSvc = structuredClone(svc);
  badSvc.spec.ports[0].port = "http";
  await check("Service port is a string", [good, badSvc], false, "port must be integer");
  await check(
    "ServiceMonitor without spec",
    [good, svc, { apiVersion: "monitoring.coreos.com/v1", kind: "ServiceMonitor", metadata: { name: "x" } }],
    false,
    "ServiceMonitor has no spec",
  );
  await check(
    "PrometheusRule with rules not a list",
    [{ apiVersion: "monitoring.coreos.com/v1", kind: "PrometheusRule", metadata: { name: "x" }, spec: { groups: [{ name: "g", rules: "no" }] } }],
    false,
    "rules must be array",
  );
  await check(
    "Certificate without secretName",
    [{ apiVersion: "cert-manager.io/v1", kind: "Certificate", metadata: { name: "x" }, spec: { issuerRef: { name: "i" } } }],
    false,
    "must have required property secretName",
  );
  await check("unknown kind", [{ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "x" }, spec: {} }], false, "no schema known");
  const dup = await validateText("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n", "self-test");
  if (dup.errors.length === 0) {
    failures++;
    console.log("self-test FAIL: duplicate YAML key accepted");
  } else console.log(`self-test ok: duplicate YAML key -> ${dup.errors[0]}`);
  return failures;
}

const args = process.argv.slice(2);
if (args[0] === "--self-test") {
  const failures = await selfTest();
  console.log(failures ? `self-test: ${failures} FAILED` : "self-test: all broken objects rejected");
  process.exit(failures ? 1 : 0);
}
if (!args.length) {
  console.error("usage: validate.mjs FILE... | --self-test");
  process.exit(2);
}
let bad = 0;
for (const file of args) {
  const { count, errors } = await validateText(readFileSync(file, "utf8"), file);
  if (errors.length) {
    bad++;
    for (const e of errors) console.log(e);
  } else if (count === 0) {
    bad++;
    console.log(`${file}: no objects`);
  } else console.log(`${file}: ${count} objects valid`);
}
process.exit(bad ? 1 : 0);
