//! The Kubernetes files in `deploy/`: every YAML document parses, and the fields that tie them to
//! the code hold: the worker's command line is one the `taskhub` binary accepts, the probes hit
//! the port it serves, the ScaledObjects target the worker Deployment, the prometheus trigger
//! queries the gauge the code names, and the external scaler's settings match the worker's.
//!
//! How we know these checks bite: each was run once against a broken copy of the files and failed
//! — a file that is not YAML, `--max-activites` misspelt in the Deployment's args (the binary
//! refused it), the readiness probe on `/ready`, the liveness probe on port 8080, a
//! `terminationGracePeriodSeconds` no longer than the worker's grace, a ScaledObject aimed at
//! another Deployment, the query on `taskhub_target_worker`, `maxActivitiesPerWorker: "10"`
//! against `--max-activities 16`, and an unquoted `100` (a number, which KEDA's map of strings
//! refuses).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use taskhub::backend::scale::TARGET_WORKERS_METRIC;
use taskhub::worker::WorkerOptions;
use yaml_rust2::{Yaml, YamlLoader};

/// Every document of every `.yaml` / `.yml` file in `deploy/`, with its file name.
fn documents() -> Vec<(String, Yaml)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| {
            p.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    let mut docs = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed = YamlLoader::load_from_str(&text)
            .unwrap_or_else(|e| panic!("{name} does not parse: {e}"));
        assert!(!parsed.is_empty(), "{name} holds no document");
        docs.extend(parsed.into_iter().map(|doc| (name.clone(), doc)));
    }
    docs
}

/// The value at a dotted path, e.g. `metadata.name`.
fn at<'a>(doc: &'a Yaml, path: &str) -> &'a Yaml {
    path.split('.').fold(doc, |node, key| &node[key])
}

/// The string at a dotted path; panics naming the path when it is missing or not a string.
fn text<'a>(doc: &'a Yaml, path: &str) -> &'a str {
    at(doc, path)
        .as_str()
        .unwrap_or_else(|| panic!("{path} is not a string: {:?}", at(doc, path)))
}

fn of_kind<'a>(docs: &'a [(String, Yaml)], kind: &str) -> Vec<&'a Yaml> {
    docs.iter()
        .filter(|(_, d)| d["kind"].as_str() == Some(kind))
        .map(|(_, d)| d)
        .collect()
}

/// The one worker Deployment and its one container.
fn worker(docs: &[(String, Yaml)]) -> (&Yaml, &Yaml) {
    let deployments = of_kind(docs, "Deployment");
    assert_eq!(deployments.len(), 1, "one Deployment");
    let containers = at(deployments[0], "spec.template.spec.containers")
        .as_vec()
        .expect("containers is a list");
    assert_eq!(containers.len(), 1, "one container");
    (deployments[0], &containers[0])
}

fn args(container: &Yaml) -> Vec<&str> {
    container["args"]
        .as_vec()
        .expect("args is a list")
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap_or_else(|| panic!("arg {a:?} is not a string"))
        })
        .collect()
}

/// The value after `flag` in `args`.
fn flag<'a>(args: &[&'a str], flag: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| *a == flag)
        .and_then(|i| args.get(i + 1))
        .copied()
}

#[test]
fn every_file_parses_into_named_kubernetes_objects() {
    let docs = documents();
    let kinds: BTreeSet<&str> = docs.iter().map(|(_, d)| text(d, "kind")).collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["Deployment", "ScaledObject"]),
        "the kinds in deploy/"
    );
    for (file, doc) in &docs {
        assert!(!text(doc, "apiVersion").is_empty(), "{file}");
        assert!(!text(doc, "metadata.name").is_empty(), "{file}");
    }
    assert_eq!(of_kind(&docs, "ScaledObject").len(), 2);
}

#[test]
fn the_worker_runs_a_command_line_the_binary_accepts() {
    let docs = documents();
    let (deployment, container) = worker(&docs);
    let args = args(container);
    assert_eq!(args.first(), Some(&"worker"), "{args:?}");
    // clap checks every flag and value before it gets to --help, so this refuses a misspelt
    // flag or a bad value and prints the worker's help for a good command line.
    let out = Command::new(env!("CARGO_BIN_EXE_taskhub"))
        .args(&args)
        .arg("--help")
        .env_remove("AzureWebJobsStorage")
        .env_remove("TASKHUB_HTTP_KEY")
        .output()
        .expect("taskhub runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("Usage: taskhub worker"),
        "taskhub {args:?} refused: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The connection string and the HTTP key come from Secrets.
    let env = container["env"].as_vec().expect("env is a list");
    for name in ["AzureWebJobsStorage", "TASKHUB_HTTP_KEY"] {
        let var = env
            .iter()
            .find(|e| e["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no {name} in env"));
        assert!(
            !text(var, "valueFrom.secretKeyRef.name").is_empty(),
            "{name} from a Secret"
        );
    }

    // The probes hit the port --http listens on.
    let listen = flag(&args, "--http").expect("--http");
    let port: i64 = listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in --http {listen}"));
    assert!(listen.starts_with("0.0.0.0:"), "reachable from the kubelet");
    let ports = container["ports"].as_vec().expect("ports is a list");
    let port_named = |name: &str| {
        ports
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_i64())
    };
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(text(container, &format!("{probe}.httpGet.path")), path);
        let probe_port = &container[probe]["httpGet"]["port"];
        let probe_port = probe_port
            .as_i64()
            .or_else(|| probe_port.as_str().and_then(port_named));
        assert_eq!(probe_port, Some(port), "{probe} on the --http port");
    }

    // Kubernetes waits for the worker's graceful stop before SIGKILL.
    let grace: i64 = flag(&args, "--shutdown-grace-seconds").map_or_else(
        || WorkerOptions::default().shutdown_grace.as_secs() as i64,
        |g| g.parse().expect("a number"),
    );
    let kill_after = at(
        deployment,
        "spec.template.spec.terminationGracePeriodSeconds",
    )
    .as_i64()
    .expect("terminationGracePeriodSeconds");
    assert!(
        kill_after > grace,
        "{kill_after} s <= the worker's {grace} s"
    );
}

#[test]
fn the_scaled_objects_scale_the_worker_on_what_the_code_exports() {
    let docs = documents();
    let (deployment, container) = worker(&docs);
    let args = args(container);
    let defaults = WorkerOptions::default();
    let worker_setting =
        |name: &str, default: usize| flag(&args, name).map_or(default.to_string(), str::to_string);
    let env: BTreeSet<&str> = container["env"]
        .as_vec()
        .expect("env is a list")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();

    let mut trigger_types = BTreeSet::new();
    for scaled in of_kind(&docs, "ScaledObject") {
        assert_eq!(
            text(scaled, "spec.scaleTargetRef.name"),
            text(deployment, "metadata.name")
        );
        for trigger in at(scaled, "spec.triggers").as_vec().expect("triggers") {
            // KEDA's trigger metadata is a map of strings: a bare number is refused.
            let metadata = trigger["metadata"].as_hash().expect("metadata is a map");
            for (key, value) in metadata {
                assert!(
                    value.as_str().is_some(),
                    "{key:?}: {value:?} is not a string"
                );
            }
            let kind = text(trigger, "type");
            trigger_types.insert(kind.to_string());
            match kind {
                "prometheus" => {
                    let query = text(trigger, "metadata.query");
                    let metrics: Vec<&str> = query
                        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .filter(|w| w.starts_with("taskhub_"))
                        .collect();
                    assert_eq!(metrics, [TARGET_WORKERS_METRIC], "{query}");
                    // The gauge is a worker count: a target of 1 per replica.
                    assert_eq!(text(trigger, "metadata.threshold"), "1");
                }
                "external" => {
                    assert_eq!(
                        text(trigger, "metadata.taskHubName"),
                        flag(&args, "--hub").expect("--hub")
                    );
                    assert_eq!(
                        text(trigger, "metadata.maxActivitiesPerWorker"),
                        worker_setting("--max-activities", defaults.max_concurrent_activities)
                    );
                    assert_eq!(
                        text(trigger, "metadata.maxOrchestrationsPerWorker"),
                        worker_setting(
                            "--max-orchestrations",
                            defaults.max_concurrent_orchestrations
                        )
                    );
                    let from = text(trigger, "metadata.connectionFromEnv");
                    assert!(env.contains(from), "{from} is not in the worker's env");
                }
                other => panic!("unexpected trigger type {other}"),
            }
        }
    }
    assert_eq!(
        trigger_types,
        BTreeSet::from(["external".to_string(), "prometheus".to_string()])
    );
}
