#!/usr/bin/env python3
"""charts/meshcut: helm lint and helm template (build/tools/helm, from mk/deps.sh)
for default, cert-manager and unprivileged values, with assertions on what
was rendered; the agent's command wrapper run in both modes; the rendered
webhook flags fed to the real meshcut-webhook; the pre-delete hook's script
run against a fake API server; the Istio template kept in step with the
webhook. TAP output (run under prove). Needs python3-yaml, openssl, curl, jq."""
import base64
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HELM = os.path.join(ROOT, "build", "tools", "helm")
CHART = os.path.join(ROOT, "charts", "meshcut")
WEBHOOK = os.path.join(os.environ.get("BUILD", os.path.join(ROOT, "build")), "meshcut-webhook")
NS = "meshcut-system"
CAPS = ["BPF", "NET_ADMIN", "SYS_ADMIN", "PERFMON"]

try:
    import yaml
except ImportError:
    print("Bail out! python3-yaml missing (apt-get install python3-yaml)")
    sys.exit(1)
if not os.access(HELM, os.X_OK):
    print(f"Bail out! {HELM} missing: run mk/deps.sh (make deps)")
    sys.exit(1)

count = 0
failed = 0


def ok(cond, name, diag=None):
    global count, failed
    count += 1
    if cond:
        print(f"ok {count} - {name}")
    else:
        failed += 1
        print(f"not ok {count} - {name}")
        if diag is not None:
            for line in str(diag).splitlines():
                print(f"#   {line}")
    return cond


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


# helm template has no cluster, and webhook.tls.method=helm refuses to render
# without one unless told (a new CA every render); the renders below that
# look at the generated TLS say so, as a one-shot `helm template | kubectl
# apply` would
OFFLINE = "webhook.tls.helm.renderWithoutCluster=true"


def render(*sets, release="meshcut", offline=True, files=(), extra=()):
    args = [HELM, "template", release, CHART, "-n", NS] + list(extra)
    for f in files:
        args += ["-f", f]
    for s in ((OFFLINE,) if offline else ()) + sets:
        args += ["--set", s]
    r = run(args)
    if r.returncode != 0:
        return None, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d], r.stdout


def find(docs, kind, name=None):
    return [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]


def one(docs, kind):
    found = find(docs, kind)
    return found[0] if len(found) == 1 else None


def container(spec, name):
    return next((c for c in spec.get("containers", []) if c["name"] == name), None)


VALUE_SETS = {
    "default": [],
    "cert-manager": ["webhook.certManager.enabled=true"],
    "unprivileged": ["agent.privileged=false"],
    "unprivileged+mountBpffs": ["agent.privileged=false", "agent.mountBpffs=true"],
}

# --- lint and render every value set ---
rendered = {}
for label, sets in VALUE_SETS.items():
    args = [HELM, "lint", CHART, "--strict"]
    for s in sets:
        args += ["--set", s]
    r = run(args)
    ok(r.returncode == 0, f"helm lint --strict ({label})", r.stdout + r.stderr)
    docs, out = render(*sets)
    ok(docs is not None, f"helm template ({label})", out)
    rendered[label] = docs or []

d = rendered["default"]

# --- the agent DaemonSet ---
ds = one(d, "DaemonSet")
ok(ds is not None and ds["metadata"]["name"] == "meshcut-agent", "one DaemonSet, meshcut-agent")
pod = ds["spec"]["template"]["spec"]
agent = container(pod, "agent")
sc = agent["securityContext"]
ok(sc["capabilities"]["add"] == CAPS, "agent capabilities: BPF NET_ADMIN SYS_ADMIN PERFMON (no SYS_PTRACE)",
   sc["capabilities"])
ok(sc["capabilities"]["drop"] == ["ALL"], "agent drops every other capability")
ok(sc["privileged"] is True and sc["runAsUser"] == 0, "agent privileged by default, as root")
ok(pod["hostNetwork"] is True and "hostPID" not in pod, "agent hostNetwork, no hostPID (registration reads no PID)")
ok(pod["dnsPolicy"] == "ClusterFirstWithHostNet", "agent dnsPolicy fits hostNetwork")
ok(pod["priorityClassName"] == "system-node-critical", "agent priorityClassName system-node-critical")
ok({"operator": "Exists"} in pod["tolerations"], "agent tolerates every taint (operator Exists)")
ok(ds["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
   "agent RollingUpdate maxUnavailable 1", ds["spec"]["updateStrategy"])
ok(pod["automountServiceAccountToken"] is False, "agent mounts no API token")
vols = {v["name"]: v for v in pod["volumes"]}
mounts = {m["name"]: m for m in agent["volumeMounts"]}
ok(vols["bpffs"]["hostPath"]["path"] == "/sys/fs/bpf" and mounts["bpffs"]["mountPath"] == "/sys/fs/bpf",
   "host /sys/fs/bpf mounted at /sys/fs/bpf")
ok(mounts["bpffs"]["mountPropagation"] == "Bidirectional", "bpffs mount propagation Bidirectional")
ok(vols["cgroup"]["hostPath"] == {"path": "/sys/fs/cgroup", "type": "Directory"}
   and mounts["cgroup"]["mountPath"] == "/sys/fs/cgroup", "host cgroup2 /sys/fs/cgroup mounted")
ok(vols["socket"]["hostPath"] == {"path": "/var/run/meshcut", "type": "DirectoryOrCreate"}
   and mounts["socket"]["mountPath"] == "/var/run/meshcut", "/var/run/meshcut hostPath DirectoryOrCreate")
ok(vols["netns"]["hostPath"] == {"path": "/var/run/netns", "type": "DirectoryOrCreate"}
   and mounts["netns"] == {"name": "netns", "mountPath": "/var/run/netns",
                           "mountPropagation": "HostToContainer", "readOnly": True},
   "the runtime's pod namespaces (/var/run/netns) read-only, HostToContainer (new pods show up)",
   (vols.get("netns"), mounts.get("netns")))
want_args = ["--pin-dir", "/sys/fs/bpf/meshcut", "--cgroup", "/sys/fs/cgroup", "--socket",
             "/var/run/meshcut/agent.sock", "--netns-dir", "/var/run/netns", "--mode", "full",
             "--http", "127.0.0.1:9464", "--metrics", "$(HOST_IP):9464"]
ok(agent["args"] == want_args, "agent args", agent["args"])
# the probes' listener stays on loopback, out of the pods' reach (a pod that
# holds the metrics listener's connections must not fail the liveness probe)
for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
    g = agent[probe].get("httpGet", {})
    ok(g == {"host": "127.0.0.1", "port": 9464, "path": path}, f"agent {probe}: httpGet 127.0.0.1:9464{path}", g)
env = {e["name"]: e.get("value") for e in agent["env"]}
ok(env.get("MESHCUT_UNINSTALL") == "0", "agent env MESHCUT_UNINSTALL=0 (the hook flips it)")

# the command wrapper, run for real with a stand-in agent (which fails its
# --uninstall when told to) and the marker in a temporary folder
MARKER = "/tmp/meshcut-removed"
tmp = tempfile.mkdtemp(prefix="meshcut-chart-t.")
stub = os.path.join(tmp, "agent-stub")
with open(stub, "w") as f:
    f.write('#!/bin/sh\nprintf "%s\\n" "$@" >> "$STUB_LOG"\n'
            '[ "$1" = --uninstall ] && [ -n "$STUB_FAIL" ] && exit 1\nexit 0\n')
os.chmod(stub, 0o755)
wrapper = agent["command"][2]
ok(agent["command"][:2] == ["/bin/sh", "-c"] and MARKER in wrapper, "agent command: a sh wrapper that writes " + MARKER)
script = wrapper.replace("/usr/local/bin/meshcut-agent", stub).replace(MARKER, os.path.join(tmp, "removed"))


def live_in_group(pgid):
    """Whether a process of group pgid is still alive (zombies do not count)."""
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            return True
    return False


def wrapper_run(mode, fail=""):
    log = os.path.join(tmp, "stub.log")
    for f in (log, os.path.join(tmp, "removed")):
        if os.path.exists(f):
            os.unlink(f)
    env = {"MESHCUT_UNINSTALL": mode, "STUB_LOG": log, "STUB_FAIL": fail, "PATH": "/usr/bin:/bin"}
    p = subprocess.Popen(["/bin/sh", "-c", script] + agent["command"][3:] + agent["args"], env=env,
                         start_new_session=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + 5
    while time.time() < deadline and p.poll() is None and not os.path.exists(os.path.join(tmp, "removed")):
        time.sleep(0.05)
    idling = p.poll() is None
    if idling:
        time.sleep(0.2)
        p.terminate()
    rc = p.wait(timeout=5)
    time.sleep(0.2)
    if live_in_group(p.pid):  # its sleep, had the wrapper not killed it
        os.killpg(p.pid, signal.SIGKILL)
        rc = "left a process behind"
    argv = open(log).read().split("\n")[:-1] if os.path.exists(log) else []
    return argv, idling, rc, os.path.exists(os.path.join(tmp, "removed"))


argv, idling, rc, marker = wrapper_run("0")
ok(argv == want_args and not idling and not marker, "wrapper, MESHCUT_UNINSTALL=0: execs meshcut-agent with the args", argv)
argv, idling, rc, marker = wrapper_run("1")
ok(argv == ["--uninstall"] + want_args and marker and idling and rc == 0,
   "wrapper, MESHCUT_UNINSTALL=1: meshcut-agent --uninstall, marker, idles, exits 0 on SIGTERM", (argv, idling, rc, marker))
argv, idling, rc, marker = wrapper_run("1", fail="1")
ok(rc != 0 and not marker and not idling, "wrapper: a failed uninstall exits non-zero, no marker (the kubelet retries)",
   (argv, idling, rc, marker))

docs, _ = render("agent.cgroupPath=/run/cgroup2")
a2 = container(one(docs, "DaemonSet")["spec"]["template"]["spec"], "agent")
ok(a2["args"][3] == "/run/cgroup2"
   and {"name": "cgroup", "hostPath": {"path": "/run/cgroup2", "type": "Directory"}}
   in one(docs, "DaemonSet")["spec"]["template"]["spec"]["volumes"],
   "agent.cgroupPath sets --cgroup and the hostPath")

docs, _ = render("agent.netnsDir=")
p2 = one(docs, "DaemonSet")["spec"]["template"]["spec"]
a2 = container(p2, "agent")
ok(a2["args"][6:8] == ["--netns-dir", ""] and "netns" not in {v["name"] for v in p2["volumes"]}
   and "netns" not in {m["name"] for m in a2["volumeMounts"]},
   "agent.netnsDir empty: --netns-dir \"\" (no wake after a leave) and no volume", (a2["args"], p2["volumes"]))
docs, _ = render("agent.netnsDir=/run/crio/ns")
p2 = one(docs, "DaemonSet")["spec"]["template"]["spec"]
a2 = container(p2, "agent")
ok(a2["args"][6:8] == ["--netns-dir", "/run/crio/ns"]
   and {"name": "netns", "hostPath": {"path": "/run/crio/ns", "type": "DirectoryOrCreate"}} in p2["volumes"]
   and any(m["name"] == "netns" and m["mountPath"] == "/run/crio/ns" for m in a2["volumeMounts"]),
   "agent.netnsDir sets --netns-dir and the hostPath at the same path", (a2["args"], p2["volumes"]))

# --- unprivileged modes ---
for label in ("unprivileged", "unprivileged+mountBpffs"):
    dsu = one(rendered[label], "DaemonSet")
    pu = dsu["spec"]["template"]["spec"]
    au = container(pu, "agent")
    ok(au["securityContext"]["privileged"] is False and au["securityContext"]["capabilities"]["add"] == CAPS,
       f"{label}: not privileged, same capability list")
    prop = {m["name"]: m.get("mountPropagation") for m in au["volumeMounts"]}
    ok(prop["bpffs"] == "HostToContainer", f"{label}: bpffs HostToContainer (Bidirectional needs privileged)")
    inits = pu.get("initContainers", [])
    if label == "unprivileged":
        ok(not inits, f"{label}: no init container")
    else:
        m = inits[0] if inits else {}
        msc = m.get("securityContext", {})
        ok(m.get("name") == "mount-bpffs" and m["command"][:4] == ["nsenter", "--target=1", "--mount", "--"]
           and sorted(msc["capabilities"]["add"]) == ["SYS_ADMIN", "SYS_CHROOT", "SYS_PTRACE"]
           and msc["privileged"] is False and pu["hostPID"] is True,
           f"{label}: nsenter init container with SYS_ADMIN SYS_CHROOT SYS_PTRACE and hostPID", m)
# what the API server would refuse: Bidirectional outside a privileged container
for label, docs in rendered.items():
    bad = []
    for obj in docs:
        spec = obj.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for mnt in c.get("volumeMounts", []):
                if mnt.get("mountPropagation") == "Bidirectional" and not c.get("securityContext", {}).get("privileged"):
                    bad.append(c["name"])
    ok(not bad, f"{label}: Bidirectional propagation only in privileged containers", bad)

# --- the webhook ---
mwc = one(d, "MutatingWebhookConfiguration")
name = mwc["metadata"]["name"]
ok(sorted([name, "istio-sidecar-injector", "istio-revision-tag-default", "istio-sidecar-injector-1-28"])[-1] == name,
   f"webhook configuration name {name} sorts after Istio's injector")
wh = mwc["webhooks"][0]
ok(wh["failurePolicy"] == "Ignore", "failurePolicy Ignore")
ok(wh["reinvocationPolicy"] == "IfNeeded", "reinvocationPolicy IfNeeded")
ok(wh["sideEffects"] == "None", "sideEffects None")
ok(wh["timeoutSeconds"] == 5, "timeoutSeconds 5")
ok(wh["admissionReviewVersions"] == ["v1"], "admissionReviewVersions v1")
ok(wh["rules"] == [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"],
                    "scope": "Namespaced"}], "rules: CREATE pods only", wh["rules"])
exprs = wh["namespaceSelector"]["matchExpressions"]
ok({"key": "meshcut.io/inject", "operator": "In", "values": ["enabled"]} in exprs,
   "namespaceSelector meshcut.io/inject=enabled")
ok({"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NS]} in exprs,
   "meshcut's own namespace excluded")
ok({"key": "meshcut.io/inject", "operator": "NotIn", "values": ["false"]} in wh["objectSelector"]["matchExpressions"],
   "objectSelector leaves out pods labelled meshcut.io/inject=false")
svc = (find(d, "Service", "meshcut-webhook") or [None])[0]
ok(wh["clientConfig"]["service"] == {"name": svc["metadata"]["name"], "namespace": NS, "path": "/mutate", "port": 443},
   "clientConfig points at the webhook Service, /mutate", wh["clientConfig"]["service"])

dep = one(d, "Deployment")
ok(dep["spec"]["replicas"] == 2, "webhook Deployment: 2 replicas")
pdb = one(d, "PodDisruptionBudget")
labels = dep["spec"]["template"]["metadata"]["labels"]
ok(pdb["spec"]["minAvailable"] == 1 and pdb["spec"]["selector"]["matchLabels"].items() <= labels.items(),
   "PodDisruptionBudget minAvailable 1 over the webhook pods")
ok(svc["spec"]["selector"].items() <= labels.items() and svc["spec"]["selector"]["app.kubernetes.io/component"] == "webhook",
   "Service selects the webhook pods (and only those)")
whc = container(dep["spec"]["template"]["spec"], "webhook")
ok(whc["securityContext"]["readOnlyRootFilesystem"] is True
   and dep["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True,
   "webhook runs non-root with a read-only root")
ok(whc["readinessProbe"]["httpGet"]["scheme"] == "HTTPS" and whc["readinessProbe"]["httpGet"]["path"] == "/readyz",
   "webhook readiness probe: HTTPS /readyz")
secret_name = dep["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"]

# generated TLS: the Secret, the caBundle, the names
sec = find(d, "Secret", secret_name)
ok(len(sec) == 1, "default: the chart generates the webhook's TLS Secret")
if sec:
    data = {k: base64.b64decode(v) for k, v in sec[0]["data"].items()}
    ok(base64.b64decode(wh["clientConfig"]["caBundle"]) == data["ca.crt"], "caBundle is the Secret's CA")
    for k in ("ca.crt", "tls.crt", "tls.key"):
        with open(os.path.join(tmp, k), "wb") as f:
            f.write(data[k])
    r = run(["openssl", "verify", "-CAfile", os.path.join(tmp, "ca.crt"), os.path.join(tmp, "tls.crt")])
    ok(r.returncode == 0, "the serving certificate verifies against the CA", r.stdout + r.stderr)
    r = run(["openssl", "x509", "-in", os.path.join(tmp, "tls.crt"), "-noout", "-ext", "subjectAltName"])
    ok(f"DNS:meshcut-webhook.{NS}.svc" in r.stdout, "its names include meshcut-webhook.NS.svc", r.stdout)

    # the rendered flags, fed to the real webhook (test certificate, loopback port)
    if os.access(WEBHOOK, os.X_OK):
        args = [WEBHOOK] + whc["args"] + ["--cert", os.path.join(tmp, "tls.crt"), "--key",
                                          os.path.join(tmp, "tls.key"), "--listen", "127.0.0.1:0",
                                          "--metrics-listen", "127.0.0.1:0", "--shutdown-delay", "0"]
        p = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        line = ""
        deadline = time.time() + 5
        while time.time() < deadline and "serving https" not in line:
            line = p.stderr.readline()
            if not line and p.poll() is not None:
                break
        p.terminate()
        p.wait(timeout=10)
        ok("serving https" in line, "meshcut-webhook starts with the chart's flags", " ".join(whc["args"]) + "\n" + line)
    else:
        ok(False, f"meshcut-webhook starts with the chart's flags ({WEBHOOK} not built)")

# --- the webhook's NetworkPolicy: off by default, the API server's peers only when on ---
ok(not find(d, "NetworkPolicy"), "default: no NetworkPolicy (where the API server connects from differs)")
API_PEER = "webhook.networkPolicy.from[0].ipBlock.cidr=10.0.0.0/28"
np_sets = ["webhook.networkPolicy.enabled=true", API_PEER, "webhook.networkPolicy.from[1].namespaceSelector.matchLabels.role=control-plane"]
r = run([HELM, "lint", CHART, "--strict"] + [a for s_ in np_sets for a in ("--set", s_)])
ok(r.returncode == 0, "helm lint --strict (networkPolicy enabled)", r.stdout + r.stderr)
docs, out = render(*np_sets)
pol = find(docs or [], "NetworkPolicy")
ok(len(pol) == 1, "networkPolicy.enabled: one NetworkPolicy", out)
if pol:
    spec = pol[0]["spec"]
    ok(spec["podSelector"]["matchLabels"].items() <= labels.items()
       and spec["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "webhook"
       and pol[0]["metadata"]["namespace"] == NS,
       "NetworkPolicy: selects the webhook pods (and only those)", spec["podSelector"])
    ok(spec["policyTypes"] == ["Ingress"] and spec["ingress"][:1] == [{
        "from": [{"ipBlock": {"cidr": "10.0.0.0/28"}}, {"namespaceSelector": {"matchLabels": {"role": "control-plane"}}}],
        "ports": [{"protocol": "TCP", "port": 8443}]}],
       "NetworkPolicy: ingress only from the given peers, only to the webhook's port", spec)
    ok(spec["ingress"][1:] == [{"ports": [{"protocol": "TCP", "port": 9465}]}],
       "NetworkPolicy: and the webhook's metrics port (metrics.enabled), from anywhere by default", spec["ingress"][1:])
docs, _ = render(*np_sets, "webhook.port=9443")
pol = find(docs or [], "NetworkPolicy")
ok(pol and pol[0]["spec"]["ingress"][0]["ports"] == [{"protocol": "TCP", "port": 9443}],
   "NetworkPolicy: follows webhook.port")
docs, out = render("webhook.networkPolicy.enabled=true")
ok(docs is None and "webhook.networkPolicy.from" in out,
   "networkPolicy.enabled without peers: refused (a rule without peers admits everyone)", out)

# --- cert-manager TLS ---
cm = rendered["cert-manager"]
ok(not find(cm, "Secret"), "cert-manager: the chart renders no Secret")
certs = {c["metadata"]["name"]: c for c in find(cm, "Certificate")}
issuers = {i["metadata"]["name"]: i for i in find(cm, "Issuer")}
mwc_cm = one(cm, "MutatingWebhookConfiguration")
inject_from = mwc_cm["metadata"].get("annotations", {}).get("cert-manager.io/inject-ca-from", "")
serving = certs.get(inject_from.split("/")[-1])
ok(inject_from.startswith(NS + "/") and serving is not None, "cert-manager: inject-ca-from names the serving Certificate",
   inject_from)
ok("caBundle" not in mwc_cm["webhooks"][0]["clientConfig"], "cert-manager: caBundle left to the cainjector")
if serving:
    dep_cm = one(cm, "Deployment")
    ok(serving["spec"]["secretName"] == dep_cm["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
       "cert-manager: the serving Certificate's Secret is the one the webhook mounts")
    ca_issuer = issuers.get(serving["spec"]["issuerRef"]["name"], {})
    ca_cert = certs.get(next((c for c in certs if certs[c]["spec"].get("secretName") == ca_issuer.get("spec", {}).get("ca", {}).get("secretName")), ""), {})
    ok(ca_cert.get("spec", {}).get("isCA") is True
       and "selfSigned" in issuers.get(ca_cert["spec"]["issuerRef"]["name"], {}).get("spec", {}),
       "cert-manager: serving Certificate <- CA Issuer <- CA Certificate <- self-signed Issuer")
    ok(f"meshcut-webhook.{NS}.svc" in serving["spec"]["dnsNames"], "cert-manager: dnsNames include the Service")

# --- RBAC: minimal, no wildcards ---
for label, docs in rendered.items():
    roles = find(docs, "Role") + find(docs, "ClusterRole")
    wild = [r["metadata"]["name"] for r in roles for rule in r.get("rules", [])
            if "*" in rule.get("verbs", []) + rule.get("resources", []) + rule.get("apiGroups", [])]
    ok(not wild, f"{label}: no wildcard verbs, resources or apiGroups in RBAC", wild)
    ok(not find(docs, "ClusterRole") and not find(docs, "ClusterRoleBinding"), f"{label}: no cluster-wide RBAC")
role = one(d, "Role")
ok(role["rules"] == [{"apiGroups": ["apps"], "resources": ["daemonsets"], "resourceNames": ["meshcut-agent"],
                      "verbs": ["get", "patch"]}], "the hook's Role: get and patch meshcut-agent only", role["rules"])
hooks = [o for o in d if o["metadata"].get("annotations", {}).get("helm.sh/hook") == "pre-delete"]
ok(sorted(o["kind"] for o in hooks) == ["ConfigMap", "Job", "Role", "RoleBinding", "ServiceAccount"],
   "pre-delete hook: ConfigMap, Job, Role, RoleBinding, ServiceAccount", [o["kind"] for o in hooks])
job = one(d, "Job")
weights = {o["kind"]: int(o["metadata"]["annotations"]["helm.sh/hook-weight"]) for o in hooks}
ok(all(weights[k] < weights["Job"] for k in weights if k != "Job"), "the hook's Job comes after its RBAC and script")
ok(job["spec"]["template"]["spec"]["serviceAccountName"] == one(d, "RoleBinding")["subjects"][0]["name"]
   == hooks[[o["kind"] for o in hooks].index("ServiceAccount")]["metadata"]["name"],
   "the Job runs as the ServiceAccount the Role is bound to")
with open(os.path.join(CHART, "files", "uninstall.sh")) as f:
    script_text = f.read()
ok(one(d, "ConfigMap")["data"]["uninstall.sh"] == script_text, "the hook's ConfigMap carries files/uninstall.sh")
jenv = {e["name"]: e.get("value") for e in container(job["spec"]["template"]["spec"], "uninstall")["env"]}
ok(jenv.get("DAEMONSET") == ds["metadata"]["name"] and int(jenv["TIMEOUT_SECONDS"]) < 300,
   "the Job waits on the agent DaemonSet, less than helm's default 5 min timeout")
ok(not [o for o in d if o["kind"] == "ConfigMap" and "istio" in o["metadata"]["name"]],
   "the chart owns no Istio ConfigMap")


# --- the pre-delete script against a fake API server ---
class FakeAPI(BaseHTTPRequestHandler):
    """One DaemonSet; after a PATCH its rollout completes over a few GETs
    (scenario "ok"), never (scenario "stuck"), or it does not exist ("absent")."""
    scenario = "ok"
    patches = []
    auth = []
    gets_after_patch = 0
    path_ok = "/apis/apps/v1/namespaces/meshcut-system/daemonsets/meshcut-agent"

    def log_message(self, *a):
        pass

    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def ds(self):
        cls = FakeAPI
        patched = bool(cls.patches)
        gen = 2 if patched else 1
        st = {"observedGeneration": 1, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberAvailable": 3}
        if patched:
            n = cls.gets_after_patch
            cls.gets_after_patch += 1
            if cls.scenario == "stuck" or n < 2:
                st = {"observedGeneration": 2 if n else 1, "desiredNumberScheduled": 3,
                      "updatedNumberScheduled": 3 if n else 0, "numberAvailable": 2}
            else:
                st = {"observedGeneration": 2, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3,
                      "numberAvailable": 3}
        return {"kind": "DaemonSet", "metadata": {"name": "meshcut-agent", "generation": gen}, "status": st}

    def do_GET(self):
        FakeAPI.auth.append(self.headers.get("Authorization"))
        if self.path != self.path_ok or FakeAPI.scenario == "absent":
            return self.reply(404, {"kind": "Status", "code": 404})
        self.reply(200, self.ds())

    def do_PATCH(self):
        FakeAPI.auth.append(self.headers.get("Authorization"))
        body = self.rfile.read(int(self.headers["Content-Length"]))
        FakeAPI.patches.append((self.headers.get("Content-Type"), json.loads(body)))
        self.reply(200, self.ds())


def smp(orig, patch):
    """Strategic merge patch, as far as the hook uses it: maps merge, null
    deletes, lists of named items merge by name."""
    out = dict(orig)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = smp(out[k], v)
        elif isinstance(v, list) and isinstance(out.get(k), list) and all("name" in i for i in v + out[k]):
            merged = [dict(i) for i in out[k]]
            for item in v:
                hit = next((m for m in merged if m["name"] == item["name"]), None)
                if hit is None:
                    merged.append(item)
                else:
                    merged[merged.index(hit)] = smp(hit, item)
            out[k] = merged
        else:
            out[k] = v
    return out


def hook_run(scenario, timeout="30"):
    FakeAPI.scenario, FakeAPI.patches, FakeAPI.auth, FakeAPI.gets_after_patch = scenario, [], [], 0
    env = {"PATH": "/usr/bin:/bin", "DAEMONSET": "meshcut-agent", "KUBE_API": f"https://127.0.0.1:{port}",
           "SA_DIR": sa, "TIMEOUT_SECONDS": timeout, "POLL_SECONDS": "1", "TMPDIR": tmp}
    t0 = time.time()
    r = run(["/bin/sh", os.path.join(CHART, "files", "uninstall.sh")], env=env, timeout=120)
    return r, time.time() - t0


sa = os.path.join(tmp, "sa")
os.makedirs(sa)
r = run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
         "-subj", "/CN=kubernetes", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", os.path.join(tmp, "api.key"), "-out", os.path.join(sa, "ca.crt")])
with open(os.path.join(sa, "token"), "w") as f:
    f.write("test-token")
with open(os.path.join(sa, "namespace"), "w") as f:
    f.write(NS)
srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeAPI)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(os.path.join(sa, "ca.crt"), os.path.join(tmp, "api.key"))
srv.socket = tls.wrap_socket(srv.socket, server_side=True)
port = srv.server_address[1]
threading.Thread(target=srv.serve_forever, daemon=True).start()
try:
    r, took = hook_run("ok")
    ok(r.returncode == 0 and "every node drained and removed" in r.stdout,
       "hook: patches, then waits for every node and succeeds", r.stdout + r.stderr)
    ct, patch = FakeAPI.patches[0] if FakeAPI.patches else (None, {})
    ok(len(FakeAPI.patches) == 1 and ct == "application/strategic-merge-patch+json", "hook: one strategic merge patch")
    tpl = patch.get("spec", {}).get("template", {}).get("spec", {})
    pc = (tpl.get("containers") or [{}])[0]
    ok(pc.get("name") == "agent" and pc.get("env") == [{"name": "MESHCUT_UNINSTALL", "value": "1"}],
       "hook: the patch sets MESHCUT_UNINSTALL=1 in container agent", patch)
    after = smp(agent, pc)
    rp = after.get("readinessProbe", {})
    ok("livenessProbe" not in after and "httpGet" not in rp
       and rp.get("exec") == {"command": ["test", "-e", MARKER]} and rp.get("periodSeconds") == 5,
       "hook: patched, the agent's readiness probe is the wrapper's marker and it has no liveness probe", after)
    ok({"name": "MESHCUT_UNINSTALL", "value": "1"} in after["env"] and len(after["env"]) == len(agent["env"]),
       "hook: patched, MESHCUT_UNINSTALL is 1 and the other env stays")
    ok(patch.get("spec", {}).get("updateStrategy", {}).get("rollingUpdate") == {"maxUnavailable": "100%"},
       "hook: and lets every node switch at once")
    ok(set(FakeAPI.auth) == {"Bearer test-token"}, "hook: authenticates with the ServiceAccount token")
    r, took = hook_run("stuck", timeout="3")
    ok(r.returncode != 0 and "timed out" in r.stderr and took < 20, "hook: fails after its timeout when a node never reports",
       r.stdout + r.stderr)
    r, took = hook_run("absent")
    ok(r.returncode == 0 and not FakeAPI.patches, "hook: no DaemonSet, nothing to do, success", r.stdout + r.stderr)
finally:
    srv.shutdown()

# --- NOTES.txt, rendered (helm template skips it: render a copy as a ConfigMap) ---
copy = os.path.join(tmp, "chart")
shutil.copytree(CHART, copy)
os.rename(os.path.join(copy, "templates", "NOTES.txt"), os.path.join(copy, "files", "notes.txt"))
with open(os.path.join(copy, "templates", "zz-notes.yaml"), "w") as f:
    f.write('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes}\n'
            'data:\n  notes: {{ tpl (.Files.Get "files/notes.txt") . | quote }}\n')


def notes_for(*sets):
    args = [HELM, "template", "meshcut", copy, "-n", NS, "--show-only", "templates/zz-notes.yaml"]
    for s_ in (OFFLINE,) + sets:
        args += ["--set", s_]
    r = run(args)
    return yaml.safe_load(r.stdout)["data"]["notes"] if r.returncode == 0 else r.stderr


notes = notes_for()
ok("kubectl label namespace NAME meshcut.io/inject=enabled" in notes, "NOTES: how to opt a namespace in", notes)
ok(f"kubectl -n {NS} exec ds/meshcut-agent -- meshcut status" in notes, "NOTES: how to check it works", notes)
ok("/metrics on its node's IP, port 9464" in notes and "meshcut why NAMESPACE/POD" in notes,
   "NOTES: where the metrics are, and how to ask why a pod is not accelerated", notes)
n_nomet = notes_for("metrics.enabled=false")
ok("/metrics" not in n_nomet and "meshcut why NAMESPACE/POD" in n_nomet,
   "NOTES (metrics.enabled=false): no metrics endpoint named, still how to ask why", n_nomet)

# --- README, Istio template ---
with open(os.path.join(CHART, "README.md")) as f:
    readme = f.read()
ok('"baseline"' in readme and "hostPath" in readme, "README documents the Pod Security baseline limit")
with open(os.path.join(CHART, "istio-template", "meshcut-injection-template.yaml")) as f:
    istio_values = yaml.safe_load(f)
tmpl = istio_values["sidecarInjectorWebhook"]["templates"]["meshcut"]
ok(tmpl.count("{{") == tmpl.count("}}"), "Istio template: balanced {{ }}")
body = yaml.safe_load("\n".join(l for l in tmpl.splitlines() if not l.lstrip().startswith("{{-")))
init = body["spec"]["initContainers"][0]
with open(os.path.join(ROOT, "tests", "webhook", "cases", "classic.out.json")) as f:
    golden = json.load(f)["patch"][0]["value"]
ok([e["name"] for e in init["env"]] == [e["name"] for e in golden["env"]],
   "Istio template: the same env variables, in the webhook's order")
ok(init["securityContext"] == golden["securityContext"] and init["command"] == golden["command"]
   and init["volumeMounts"] == golden["volumeMounts"], "Istio template: the same command, securityContext and mount")
with open(os.path.join(ROOT, "tests", "webhook", "cases", "classic.out.json")) as f:
    golden_pod = json.load(f)["pod"]
golden_vol = next(v for v in golden_pod["spec"]["volumes"] if v["name"] == "meshcut-socket")
ok(body["spec"]["volumes"] == [golden_vol] and body["metadata"]["annotations"] == {"meshcut.io/status": "injected"},
   "Istio template: the same volume and status annotation", body["spec"]["volumes"])
# a node without a running agent must not keep injected pods from starting:
# the kubelet refuses a hostPath of type Directory that does not exist
ok(golden_vol["hostPath"] == {"path": "/var/run/meshcut", "type": "DirectoryOrCreate"},
   "injected pods' socket volume: hostPath DirectoryOrCreate (never blocks a pod)", golden_vol)

# === issue 20: policy-safe agent settings, GitOps-safe TLS and removal,
# operational values, values.schema.json ===
AGENT = os.path.join(os.environ.get("BUILD", os.path.join(ROOT, "build")), "meshcut-agent")
LIMIT_FLAGS = ("--max-pairs", "--backlog-limit", "--pod-pairs-max", "--reg-burst", "--reg-rate", "--log-format",
               "--liveness-bound")


def agent_of(docs):
    return container(one(docs, "DaemonSet")["spec"]["template"]["spec"], "agent")


def flag_values(args):
    """{flag: value} of the rendered agent args (each flag is followed by its value)"""
    return {args[i]: args[i + 1] for i in range(0, len(args) - 1) if args[i].startswith("--")}


def agent_accepts(args):
    """the real meshcut-agent parses every option before acting on --help: a
    value it refuses exits 2 with the reason"""
    if not os.access(AGENT, os.X_OK):
        return False, f"{AGENT} not built"
    r = run([AGENT] + args + ["--help"])
    return r.returncode == 0, r.stderr


# --- mode, limits: flags only when set; cross-node: keep host policy by default ---
cross = {e["name"]: e.get("value") for e in agent["env"] if e["name"].startswith("MESHCUT_CROSS_")}
ok(cross == {"MESHCUT_CROSS_KEEP_HOST_POLICY": "on"},
   "default: the agent keeps host policy for cross-node flows (MESHCUT_CROSS_KEEP_HOST_POLICY=on), no other cross setting", cross)
ok(not [f for f in LIMIT_FLAGS if f in agent["args"]],
   "default: no limit or log flag rendered (the agent's own defaults hold)", agent["args"])
ok(flag_values(agent["args"]).get("--mode") == "full", "default: --mode full, as before")
ok(agent_accepts(agent["args"])[0], "meshcut-agent accepts the default args", agent_accepts(agent["args"])[1])

limits = ["agent.mode=intra\\,cross", "agent.maxPairs=131072", "agent.podPairsMax=0", "agent.registration.burst=50",
          "agent.registration.rate=100/m", "logFormat=json", "agent.livenessBound=30"]
vals = os.path.join(tmp, "limits.yaml")
with open(vals, "w") as f:  # from a file, numbers reach the template as floats
    f.write("agent:\n  backlogLimit: 16777216\n")
docs, out = render(*limits, files=[vals])
a3 = agent_of(docs) if docs else {"args": [], "env": []}
fv = flag_values(a3["args"])
ok(fv.get("--mode") == "intra,cross" and fv.get("--max-pairs") == "131072" and fv.get("--backlog-limit") == "16777216"
   and fv.get("--pod-pairs-max") == "0" and fv.get("--reg-burst") == "50" and fv.get("--reg-rate") == "100/m"
   and fv.get("--log-format") == "json" and fv.get("--liveness-bound") == "30",
   "agent.mode, maxPairs, backlogLimit (from a file: no 1.6777216e+07), podPairsMax 0, registration.burst/rate, "
   "logFormat json, livenessBound: rendered as the agent's flags", a3["args"] or out)
acc = agent_accepts(a3["args"])
ok(acc[0], "meshcut-agent accepts those flags", acc[1])
docs, out = render("agent.mode=")
ok(docs and "--mode" not in agent_of(docs)["args"], "agent.mode empty: no --mode (the agent keeps the pinned mode)")

docs, out = render("crossNode.keepHostPolicy=false", "crossNode.hostCIDRs={10.1.0.0/16,fd00::/64}",
                   "crossNode.shortcutCIDRs={10.2.0.0/16}", "crossNode.overlayDevices={flannel.1}")
cross = {e["name"]: e.get("value") for e in (agent_of(docs)["env"] if docs else []) if e["name"].startswith("MESHCUT_CROSS_")}
ok(cross == {"MESHCUT_CROSS_KEEP_HOST_POLICY": "off", "MESHCUT_CROSS_HOST_CIDRS": "10.1.0.0/16,fd00::/64",
             "MESHCUT_CROSS_SHORTCUT_CIDRS": "10.2.0.0/16", "MESHCUT_CROSS_OVERLAY": "flannel.1"},
   "crossNode.keepHostPolicy false, hostCIDRs, shortcutCIDRs, overlayDevices: the agent's MESHCUT_CROSS_* env", cross or out)
n_on, n_off = notes_for(), notes_for("crossNode.keepHostPolicy=false")
ok("keep the host path" in n_on and "crossNode.keepHostPolicy=false" in n_on,
   "NOTES (keepHostPolicy on): cross-node flows keep the host path, and how to turn it off", n_on)
ok(all(w in n_off for w in ("skip", "FORWARD", "conntrack", "does NOT apply")),
   "NOTES (keepHostPolicy off): what the cross-node shortcut skips, and that host NetworkPolicy does not apply", n_off)

# --- TLS method: helm refuses a render without a cluster, the others render stably ---
docs, out = render(offline=False)
ok(docs is None and "certManager" in out and "existingSecret" in out and "no cluster" in out,
   "webhook.tls.method=helm under helm template: fails, telling to use certManager or existingSecret", out)
docs, out = render(offline=False, extra=["--is-upgrade"])
ok(docs is None and "no cluster" in out, "... and so does an upgrade render without a cluster", out)
r = run([HELM, "lint", CHART, "--strict"])
ok(r.returncode == 0 and "no cluster" not in r.stdout + r.stderr,
   "helm lint --strict renders it (lint applies nothing: no drift to refuse)", r.stdout + r.stderr)
with open(os.path.join(tmp, "ca.crt")) as f:
    ca_pem = f.read()
ES = ["webhook.tls.method=existingSecret", "webhook.tls.existingSecret.name=my-webhook-tls"]
stable = {"certManager": ["webhook.tls.method=certManager"], "existingSecret": ES + ["webhook.tls.existingSecret.caBundle=" + base64.b64encode(ca_pem.encode()).decode()]}
outs = {}
for label, sets in stable.items():
    d1, o1 = render(*sets, offline=False)
    d2, o2 = render(*sets, offline=False)
    outs[label] = (d1, o1)
    ok(d1 is not None and o1 == o2, f"tls.method={label}: renders without a cluster, twice the same bytes", o1 if d1 is None else "")
d1, o1 = render("webhook.certManager.enabled=true", offline=False)
ok(d1 is not None and o1 == outs["certManager"][1], "webhook.certManager.enabled=true renders as tls.method=certManager")
esd = outs["existingSecret"][0] or []
mwc_es = one(esd, "MutatingWebhookConfiguration") or {"webhooks": [{"clientConfig": {}}], "metadata": {}}
ok(not find(esd, "Secret") and not find(esd, "Certificate") and not find(esd, "Issuer")
   and one(esd, "Deployment")["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"] == "my-webhook-tls",
   "existingSecret: no Secret or cert-manager object rendered, the webhook mounts the named Secret")
ok(base64.b64decode(mwc_es["webhooks"][0]["clientConfig"].get("caBundle", "")).decode() == ca_pem
   and "annotations" not in mwc_es["metadata"], "existingSecret: caBundle is the given CA (base64)")
docs, out = render(*(ES + [f"webhook.tls.existingSecret.caBundle={ca_pem}"]), offline=False)
ok(docs and one(docs, "MutatingWebhookConfiguration")["webhooks"][0]["clientConfig"]["caBundle"]
   == mwc_es["webhooks"][0]["clientConfig"].get("caBundle"), "existingSecret: a PEM caBundle is taken as well", out)
for sets, want, label in (
        (ES[:1], "webhook.tls.existingSecret.name", "without a name or caBundle"),
        (ES + ["webhook.tls.existingSecret.caBundle=bm90IGEgY2VydA=="], "neither a PEM certificate", "with a caBundle that is no certificate"),
        (ES + ["webhook.certManager.enabled=true", "webhook.tls.existingSecret.caBundle=x"], "pick one", "beside certManager.enabled")):
    docs, out = render(*sets, offline=False)
    ok(docs is None and want in out, f"existingSecret {label}: a clear failure", out)

# --- declarative removal: uninstall.removeFromNodes renders what the pre-delete hook patches ---
docs, out = render("uninstall.removeFromNodes=true")
rm = docs or []
dsr = one(rm, "DaemonSet")
ar = agent_of(rm) if dsr else {}
ok(dsr is not None and ar == after,
   "uninstall.removeFromNodes: the agent container is exactly the pre-delete hook's patch applied (MESHCUT_UNINSTALL=1, "
   "readiness on the marker, no liveness probe)", json.dumps(ar, indent=1) + "\nwant\n" + json.dumps(after, indent=1))
ok(dsr and dsr["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "100%"}},
   "uninstall.removeFromNodes: every node at once (maxUnavailable 100%, as the hook)")
ok(not find(rm, "MutatingWebhookConfiguration") and one(rm, "Deployment") is not None,
   "uninstall.removeFromNodes: no webhook configuration (new pods get no meshcut-init)")
n_rm = notes_for("uninstall.removeFromNodes=true")
ok("rollout status ds/meshcut-agent" in n_rm and "delete the release" in n_rm, "NOTES (removal): wait for the rollout, then delete", n_rm)
ok(all(w in readme for w in ("Argo CD", "Flux", "kubectl apply", "uninstall.removeFromNodes")),
   "README: removal with Argo CD, Flux and plain kubectl")

# --- upgrade from a values file of chart 0.1.0: the same webhook and agent essentials ---
OLD = os.path.join(ROOT, "tests", "chart", "values-0.1.0.yaml")
docs, out = render(files=[OLD], extra=["--is-upgrade"])
ok(docs is not None, "upgrade render with chart 0.1.0's values file (schema and templates take it)", out)
if docs:
    ao = agent_of(docs)
    ok(ao["args"] == want_args and {e["name"]: e.get("value") for e in ao["env"]} == {e["name"]: e.get("value") for e in agent["env"]},
       "old values: the agent's args and env as with today's defaults", ao)
    ok(container(one(docs, "Deployment")["spec"]["template"]["spec"], "webhook")["args"] == whc["args"]
       and one(docs, "Deployment")["spec"]["template"]["spec"]["volumes"] == dep["spec"]["template"]["spec"]["volumes"],
       "old values: the webhook's args and TLS Secret as with today's defaults")
    mo = one(docs, "MutatingWebhookConfiguration")
    strip = lambda m: json.dumps([{**w, "clientConfig": {**w["clientConfig"], "caBundle": None}} for w in m["webhooks"]], sort_keys=True)
    ok(mo["metadata"]["name"] == mwc["metadata"]["name"] and strip(mo) == strip(mwc) and find(docs, "Secret", secret_name),
       "old values: the same webhook configuration (caBundle aside: no cluster here) and generated Secret")
    ok(one(docs, "DaemonSet")["spec"]["updateStrategy"] == ds["spec"]["updateStrategy"], "old values: the same update strategy")
old_cm = os.path.join(tmp, "old-cm.yaml")
with open(OLD) as f, open(old_cm, "w") as g:
    g.write(f.read().replace("  certManager:\n    enabled: false", "  certManager:\n    enabled: true"))
docs, out = render(files=[old_cm], offline=False, extra=["--is-upgrade"])
ok(docs is not None and out.replace("\n", "") and out == outs["certManager"][1],
   "old values with certManager.enabled: true: renders exactly as tls.method=certManager", out)

# --- log format, update strategy, priority class, resources, tolerations ---
docs, out = render("logFormat=json")
wj = container(one(docs, "Deployment")["spec"]["template"]["spec"], "webhook") if docs else {"args": []}
ok("--log-json" in wj["args"] and "--log-json" not in whc["args"], "logFormat json: the webhook gets --log-json (text: none)")
if os.access(WEBHOOK, os.X_OK) and sec:
    p = subprocess.Popen([WEBHOOK] + wj["args"] + ["--cert", os.path.join(tmp, "tls.crt"), "--key", os.path.join(tmp, "tls.key"),
                          "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0", "--shutdown-delay", "0"],
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    p.terminate()
    p.wait(timeout=10)
    try:
        logged = json.loads(line)
    except ValueError:
        logged = None
    ok(isinstance(logged, dict), "meshcut-webhook with the chart's json flags logs JSON lines", line)
docs, out = render("agent.updateStrategy.rollingUpdate.maxUnavailable=10%", "agent.priorityClassName=node-pc",
                   "webhook.priorityClassName=webhook-pc", "webhook.tolerations[0].operator=Exists",
                   "agent.resources.limits.memory=512Mi", "webhook.resources.limits.memory=128Mi")
if docs:
    dso, wpo = one(docs, "DaemonSet"), one(docs, "Deployment")["spec"]["template"]["spec"]
    ok(dso["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
       "agent.updateStrategy rendered", dso["spec"]["updateStrategy"])
    ok(dso["spec"]["template"]["spec"]["priorityClassName"] == "node-pc" and wpo.get("priorityClassName") == "webhook-pc",
       "agent.priorityClassName and webhook.priorityClassName rendered")
    ok("priorityClassName" not in dep["spec"]["template"]["spec"], "default: the webhook sets no priority class")
    ok(wpo["tolerations"] == [{"operator": "Exists"}] and container(wpo, "webhook")["resources"]["limits"]["memory"] == "128Mi"
       and agent_of(docs)["resources"]["limits"]["memory"] == "512Mi", "webhook tolerations, webhook and agent resources rendered")
else:
    ok(False, "operational values render", out)
docs, out = render("agent.updateStrategy.type=OnDelete", "agent.updateStrategy.rollingUpdate=null")
ok(docs and one(docs, "DaemonSet")["spec"]["updateStrategy"] == {"type": "OnDelete"}, "agent.updateStrategy OnDelete", out)

# --- values.schema.json: a typo or a wrong type fails the install ---
for sets, want, label in (
        (["agent.tolerationz[0].operator=Exists"], "Additional property tolerationz is not allowed", "misspelt agent key"),
        (["crossNode.keepHostPolicies=false"], "Additional property keepHostPolicies is not allowed", "misspelt crossNode key"),
        (["webhook.tls.methd=certManager"], "Additional property methd is not allowed", "misspelt tls key"),
        (["crossNode.keepHostPolicy=maybe"], "crossNode.keepHostPolicy: Invalid type. Expected: boolean", "a string for a boolean"),
        (["agent.backlogLimit=1024"], "agent.backlogLimit: Must be greater than or equal to 4096", "a backlog limit the agent refuses"),
        (["agent.registration.rate=5/d"], "agent.registration.rate: Does not match pattern", "a rate the agent refuses"),
        (["agent.livenessBound=0"], "agent.livenessBound: Must be greater than or equal to 1", "a liveness bound the agent refuses"),
        (["agent.mode=fast"], "agent.mode: Does not match pattern", "an unknown mode"),
        (["agent.updateStrategy.rollingUpdate.maxSurge=1"], "agent.updateStrategy.rollingUpdate.maxSurge must be one of",
         "a surge: two agents on one node"),
        (["webhook.tls.method=vault"], "webhook.tls.method must be one of", "an unknown TLS method"),
        (["logFormat=yaml"], "logFormat must be one of", "an unknown log format")):
    docs, out = render(*sets)
    ok(docs is None and want in out, f"schema: {label} fails with a clear message", out)
    r = run([HELM, "lint", CHART, "--strict"] + [a for s_ in sets for a in ("--set", s_)])
    ok(r.returncode != 0, f"schema: helm lint --strict fails too ({label})")

# every key of values.yaml is in the schema (or the chart could not be installed with its own defaults changed)
with open(os.path.join(CHART, "values.schema.json")) as f:
    schema = json.load(f)
with open(os.path.join(CHART, "values.yaml")) as f:
    chart_values = yaml.safe_load(f)


def missing_in_schema(vals, sch, path=""):
    out_ = []
    for k, v in vals.items():
        sub = sch.get("properties", {}).get(k)
        if sub is None:
            if sch.get("additionalProperties", True) is False:
                out_.append(path + k)
            continue
        if isinstance(v, dict) and sub.get("additionalProperties", True) is False:
            out_ += missing_in_schema(v, sub, path + k + ".")
    return out_


ok(not missing_in_schema(chart_values, schema), "values.schema.json knows every key of values.yaml",
   missing_in_schema(chart_values, schema))

# every value added for issue 20 has a row in the README's values table
NEW_VALUES = ["logFormat", "agent.mode", "agent.maxPairs", "agent.backlogLimit", "agent.podPairsMax",
              "agent.registration.burst", "agent.registration.rate", "agent.updateStrategy", "crossNode.keepHostPolicy",
              "crossNode.hostCIDRs", "crossNode.shortcutCIDRs", "crossNode.overlayDevices", "webhook.priorityClassName",
              "webhook.tls.method", "webhook.tls.helm.renderWithoutCluster", "webhook.tls.existingSecret.name",
              "webhook.tls.existingSecret.caBundle", "uninstall.removeFromNodes", "metrics.enabled", "metrics.port",
              "metrics.webhookPort", "metrics.webhookNetworkPolicyFrom", "metrics.serviceMonitor.enabled",
              "metrics.serviceMonitor.interval", "metrics.serviceMonitor.labels", "metrics.dashboard.enabled",
              "metrics.dashboard.namespace", "metrics.dashboard.labels"]
rows = {l.split("|")[1].strip().strip("`") for l in readme.splitlines() if l.startswith("| `")}
ok(not [v for v in NEW_VALUES if v not in rows], "README's values table describes every new value",
   [v for v in NEW_VALUES if v not in rows])

# --- metrics (docs/metrics.md): node-IP listener, Services, ServiceMonitors, annotations, dashboard ---
def template_of(docs, kind):
    return one(docs, kind)["spec"]["template"]


ANN = {"prometheus.io/scrape": "true", "prometheus.io/path": "/metrics"}
env_ = {e["name"]: e for e in agent["env"]}
ok(env_.get("HOST_IP", {}).get("valueFrom") == {"fieldRef": {"fieldPath": "status.hostIP"}},
   "metrics: the agent's HOST_IP from the downward API (status.hostIP)", env_.get("HOST_IP"))
ok(agent["ports"] == [{"name": "metrics", "containerPort": 9464, "protocol": "TCP"}], "metrics: agent port metrics 9464",
   agent["ports"])
ok(template_of(d, "DaemonSet")["metadata"].get("annotations") == {**ANN, "prometheus.io/port": "9464"},
   "metrics: the agent pods' prometheus.io annotations", template_of(d, "DaemonSet")["metadata"])
ok(template_of(d, "Deployment")["metadata"].get("annotations") == {**ANN, "prometheus.io/port": "9465"}
   and "--metrics-listen=:9465" in whc["args"]
   and {"name": "metrics", "containerPort": 9465, "protocol": "TCP"} in whc["ports"],
   "metrics: the webhook's --metrics-listen=:9465, port and annotations", (whc["args"], whc["ports"]))
msvc = {s_["metadata"]["name"]: s_ for s_ in find(d, "Service") if s_["metadata"]["name"].endswith("-metrics")}
am, wm = msvc.get("meshcut-agent-metrics"), msvc.get("meshcut-webhook-metrics")
ds_labels = template_of(d, "DaemonSet")["metadata"]["labels"]
ok(am is not None and am["spec"]["clusterIP"] == "None" and am["spec"]["selector"].items() <= ds_labels.items()
   and am["spec"]["selector"]["app.kubernetes.io/component"] == "agent"
   and am["spec"]["ports"] == [{"name": "metrics", "port": 9464, "targetPort": 9464, "protocol": "TCP"}],
   "metrics: a headless Service over the agent pods, port metrics 9464", am)
ok(wm is not None and wm["spec"]["clusterIP"] == "None" and wm["spec"]["selector"].items() <= labels.items()
   and wm["spec"]["selector"]["app.kubernetes.io/component"] == "webhook"
   and wm["spec"]["ports"][0]["targetPort"] == "metrics", "metrics: a headless Service over the webhook pods", wm)
ok(not find(d, "ServiceMonitor") and not find(d, "ConfigMap", "meshcut-dashboard"),
   "metrics: no ServiceMonitor and no dashboard by default")
docs, out = render("metrics.port=9500", "metrics.webhookPort=9501")
if ok(docs is not None, "metrics.port=9500: renders", out):
    ao = agent_of(docs)
    ok(flag_values(ao["args"])["--metrics"] == "$(HOST_IP):9500" and ao["livenessProbe"]["httpGet"]["port"] == 9464
       and flag_values(ao["args"])["--http"] == "127.0.0.1:9464"
       and ao["ports"] == [{"name": "metrics", "containerPort": 9500, "protocol": "TCP"}]
       and find(docs, "Service", "meshcut-agent-metrics")[0]["spec"]["ports"][0]["port"] == 9500
       and template_of(docs, "DaemonSet")["metadata"]["annotations"]["prometheus.io/port"] == "9500"
       and "--metrics-listen=:9501" in container(template_of(docs, "Deployment")["spec"], "webhook")["args"],
       "metrics.port: the agent's --metrics, port, Service and annotation follow (probes stay); webhookPort the webhook's", ao)
docs, out = render("metrics.enabled=false")
if ok(docs is not None, "metrics.enabled=false: renders", out):
    ao = agent_of(docs)
    wo = container(template_of(docs, "Deployment")["spec"], "webhook")
    ok(flag_values(ao["args"])["--http"] == "127.0.0.1:9464" and "--metrics" not in ao["args"]
       and all(ao[p]["httpGet"].get("host") == "127.0.0.1" for p in ("livenessProbe", "readinessProbe"))
       and "HOST_IP" not in {e["name"] for e in ao["env"]}
       and not any(a.startswith("--metrics-listen") for a in wo["args"])
       and "annotations" not in template_of(docs, "DaemonSet")["metadata"]
       and [s_["metadata"]["name"] for s_ in find(docs, "Service")] == ["meshcut-webhook"],
       "metrics.enabled=false: loopback listener and probes as before, no annotations, no metrics Services",
       (ao["args"], [s_["metadata"]["name"] for s_ in find(docs, "Service")]))
r = run([HELM, "lint", CHART, "--strict", "--set", "metrics.serviceMonitor.enabled=true", "--set",
         "metrics.dashboard.enabled=true"])
ok(r.returncode == 0, "helm lint --strict (serviceMonitor and dashboard enabled)", r.stdout + r.stderr)
docs, out = render("metrics.serviceMonitor.enabled=true", "metrics.serviceMonitor.labels.release=kps",
                   "metrics.dashboard.enabled=true")
if ok(docs is not None, "metrics.serviceMonitor and dashboard enabled: renders", out):
    sms = {m_["metadata"]["name"]: m_ for m_ in find(docs, "ServiceMonitor")}
    for comp in ("agent", "webhook"):
        sm = sms.get(f"meshcut-{comp}")
        target = find(docs, "Service", f"meshcut-{comp}-metrics")
        ok(sm is not None and sm["apiVersion"] == "monitoring.coreos.com/v1" and target
           and sm["metadata"]["labels"].get("release") == "kps"
           and sm["spec"]["selector"]["matchLabels"].items() <= target[0]["metadata"]["labels"].items()
           and sm["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == comp
           and sm["spec"]["namespaceSelector"] == {"matchNames": [NS]}
           and sm["spec"]["endpoints"][0]["port"] == "metrics" and sm["spec"]["endpoints"][0]["path"] == "/metrics",
           f"ServiceMonitor meshcut-{comp}: monitoring.coreos.com/v1, selects the {comp} metrics Service, port metrics",
           sm)
    cms = find(docs, "ConfigMap", "meshcut-dashboard")
    with open(os.path.join(CHART, "files", "grafana-dashboard.json")) as f:
        dash = json.load(f)
    ok(len(cms) == 1 and cms[0]["metadata"]["labels"].get("grafana_dashboard") == "1"
       and json.loads(cms[0]["data"]["meshcut.json"]) == dash and dash["panels"],
       "dashboard: a ConfigMap labelled grafana_dashboard: \"1\" holding files/grafana-dashboard.json", cms)
docs, out = render("metrics.port=http")
ok(docs is None and "metrics.port" in out, "schema: metrics.port must be a number", out)

shutil.rmtree(tmp, ignore_errors=True)
print(f"1..{count}")
sys.exit(1 if failed else 0)
