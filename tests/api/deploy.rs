//! The deploy files agree with each other and with the binary.
//!
//! `fly.toml`, `litefs.yml`, the `Dockerfile` and `docs/deploy.md` are
//! parsed (nothing is deployed), and `kith` itself is asked, through
//! `--help`, which flags and `KITH_*` variables it knows and whether it
//! accepts the values the files give them: clap checks every flag and value
//! on the command line before it acts on `--help`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_yaml::Value as Yaml;
use toml::Value as Toml;

use crate::helpers::spawn_app;

const KITH: &str = env!("CARGO_BIN_EXE_kith");
/// Where LiteFS serves its API unless `http.addr` says otherwise.
const LITEFS_HTTP_PORT: u16 = 20202;

fn repo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---- the binary ------------------------------------------------------------

/// A subcommand's options, as its `--help` lists them.
struct Help {
    /// `--flag` -> whether it takes a value.
    flags: BTreeMap<String, bool>,
    /// `KITH_*` variable -> its `--flag`.
    vars: BTreeMap<String, String>,
}

fn help(sub: &str) -> Help {
    // env_clear: help prints the values of the KITH_* variables it sees.
    let out = Command::new(KITH)
        .args([sub, "--help"])
        .env_clear()
        .output()
        .expect("run kith --help");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).expect("utf-8 help");
    let mut help = Help {
        flags: BTreeMap::new(),
        vars: BTreeMap::new(),
    };
    let mut current = None;
    for line in text.lines() {
        // Option lines are indented by 2 or 6; their descriptions by 10.
        let indent = line.len() - line.trim_start().len();
        let words: Vec<&str> = line.split_whitespace().collect();
        if indent < 8
            && words.first().is_some_and(|w| w.starts_with('-'))
            && let Some(i) = words.iter().position(|w| w.starts_with("--"))
        {
            let flag = words[i].trim_end_matches(',').to_owned();
            let takes_value = words.get(i + 1).is_some_and(|w| w.starts_with('<'));
            help.flags.insert(flag.clone(), takes_value);
            current = Some(flag);
        }
        if let (Some(at), Some(flag)) = (line.find("[env: "), &current) {
            let name = line[at + 6..].split(['=', ']']).next().unwrap_or_default();
            help.vars.insert(name.to_owned(), flag.clone());
        }
    }
    assert!(
        help.vars.contains_key("KITH_DB"),
        "no [env: …] found in `kith {sub} --help`:\n{text}"
    );
    help
}

/// `kith <sub> <args> --help` succeeds only if every flag and value parses.
fn assert_accepted(sub: &str, args: &[String]) {
    let out = Command::new(KITH)
        .arg(sub)
        .args(args)
        .arg("--help")
        .env_clear()
        .output()
        .expect("run kith");
    assert!(
        out.status.success(),
        "`kith {sub}` refuses {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A kith command line as flag -> value ("true" for a switch), every flag
/// one that `help` lists.
fn parse_args(args: &[String], help: &Help) -> BTreeMap<String, String> {
    let mut parsed = BTreeMap::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (arg.as_str(), None),
        };
        let takes_value = *help
            .flags
            .get(flag)
            .unwrap_or_else(|| panic!("kith knows no {flag} (in {args:?})"));
        let value = match (takes_value, inline) {
            (true, Some(v)) => v,
            (true, None) => it.next().expect("a value after the flag").clone(),
            (false, None) => "true".to_owned(),
            (false, Some(_)) => panic!("{flag} takes no value"),
        };
        assert!(
            parsed.insert(flag.to_owned(), value).is_none(),
            "{flag} twice"
        );
    }
    parsed
}

/// How clap reads a switch from its variable (FalseyValueParser).
fn truthy(value: &str) -> bool {
    let falsey = ["", "n", "no", "f", "false", "off", "0"];
    !falsey.contains(&value.to_ascii_lowercase().as_str())
}

/// How long kith may take to stop after SIGTERM (src/app.rs): the drain of
/// in-flight requests, 10 s per job worker, 3 s for the cluster goodbye and
/// 10 s for the writer.
fn shutdown_budget(workers: u32) -> Duration {
    kith::app::DRAIN_TIMEOUT + Duration::from_secs(10) * workers + Duration::from_secs(13)
}

// ---- fly.toml ----------------------------------------------------------------

fn fly() -> Toml {
    toml::from_str(&repo_file("fly.toml")).expect("fly.toml is TOML")
}

fn fly_str<'a>(fly: &'a Toml, key: &str) -> &'a str {
    fly.get(key)
        .and_then(Toml::as_str)
        .unwrap_or_else(|| panic!("fly.toml has no {key}"))
}

/// fly.toml's [env].
fn fly_vars(fly: &Toml) -> BTreeMap<String, String> {
    let env = fly.get("env").and_then(Toml::as_table).expect("[env]");
    env.iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("string values").to_owned()))
        .collect()
}

fn fly_addr(vars: &BTreeMap<String, String>, name: &str) -> SocketAddr {
    let value = vars.get(name).unwrap_or_else(|| panic!("[env] {name}"));
    value.parse().expect("a socket address")
}

fn services<'a>(fly: &'a Toml, protocol: &str) -> Vec<&'a Toml> {
    let all = fly.get("services").and_then(Toml::as_array);
    let mut found: Vec<&Toml> = all
        .into_iter()
        .flatten()
        .filter(|s| s.get("protocol").and_then(Toml::as_str) == Some(protocol))
        .collect();
    if protocol == "tcp" {
        found.extend(fly.get("http_service"));
    }
    found
}

fn int(v: Option<&Toml>) -> Option<i64> {
    v.and_then(Toml::as_integer)
}

/// A Fly duration: seconds, or Go's "1m30s".
fn fly_duration(v: &Toml) -> Duration {
    let text = match v {
        Toml::Integer(s) => return Duration::from_secs(u64::try_from(*s).expect("positive")),
        Toml::String(s) => s.as_str(),
        other => panic!("not a duration: {other}"),
    };
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).expect("a unit");
        let n: u64 = rest[..digits].parse().expect("a number");
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let ms = match &rest[..unit_len] {
            "h" => 3_600_000,
            "m" => 60_000,
            "s" => 1_000,
            "ms" => 1,
            unit => panic!("unknown unit {unit} in {text}"),
        };
        total += Duration::from_millis(n * ms);
        rest = &rest[unit_len..];
    }
    total
}

// ---- litefs.yml --------------------------------------------------------------

/// The environment of a Fly machine in `region`: fly.toml's [env], what Fly
/// sets (PRIMARY_REGION from primary_region) and FLY_CONSUL_URL, the secret
/// `fly consul attach` sets.
fn fly_machine_env(fly: &Toml, region: &str) -> BTreeMap<String, String> {
    let mut env = fly_vars(fly);
    for (k, v) in [
        ("FLY_APP_NAME", fly_str(fly, "app")),
        ("PRIMARY_REGION", fly_str(fly, "primary_region")),
        ("FLY_REGION", region),
        ("FLY_ALLOC_ID", "e784079b449483"),
        ("FLY_MACHINE_ID", "e784079b449483"),
        ("FLY_PRIVATE_IP", "fdaa:0:18:a7b:7d:f066:b83b:2"),
        (
            "FLY_CONSUL_URL",
            "https://:token@consul-fra-5.fly-shared.net/app-xyz/",
        ),
    ] {
        env.insert(k.to_owned(), v.to_owned());
    }
    env
}

/// LiteFS's expansion, over the whole file, of `${VAR}`, `$VAR` and
/// `${VAR == OTHER}` (or `!=`, or against a quoted string). A name the
/// machine does not have fails the test (LiteFS would leave it empty).
fn expand(text: &str, env: &BTreeMap<String, String>) -> String {
    let var = |name: &str| {
        env.get(name)
            .cloned()
            .unwrap_or_else(|| panic!("litefs.yml uses ${name}, which the machine does not have"))
    };
    let (mut out, mut rest) = (String::new(), text);
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (expr, tail) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').expect("closing }");
                (&braced[..end], &braced[end + 1..])
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                assert!(end > 0, "a lone $ in litefs.yml");
                (&after[..end], &after[end..])
            }
        };
        let compare = [("==", true), ("!=", false)]
            .into_iter()
            .find_map(|(op, eq)| expr.split_once(op).map(|(l, r)| (l.trim(), r.trim(), eq)));
        out.push_str(&match compare {
            Some((l, r, eq)) => {
                let quoted = ['"', '\'']
                    .into_iter()
                    .find_map(|q| r.strip_prefix(q).and_then(|r| r.strip_suffix(q)));
                let rhs = quoted.map_or_else(|| var(r), str::to_owned);
                ((var(l) == rhs) == eq).to_string()
            }
            None => var(expr.trim()),
        });
        rest = tail;
    }
    out + rest
}

fn litefs(fly: &Toml, region: &str) -> Yaml {
    let text = expand(&repo_file("litefs.yml"), &fly_machine_env(fly, region));
    serde_yaml::from_str(&text).expect("litefs.yml is YAML")
}

fn yaml_str<'a>(v: &'a Yaml, path: &str) -> &'a str {
    path.split('.')
        .try_fold(v, |v, key| v.get(key))
        .and_then(Yaml::as_str)
        .unwrap_or_else(|| panic!("litefs.yml has no {path}"))
}

/// Splits a command into words as LiteFS does (go-shellwords).
fn words(cmd: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut open) = (Vec::new(), String::new(), None, false);
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if open {
                    words.push(std::mem::take(&mut word));
                }
                open = false;
            }
            (None, '\'' | '"') => (quote, open) = (Some(c), true),
            (Some(q), c) if c == q => quote = None,
            (None | Some('"'), '\\') => {
                word.extend(chars.next());
                open = true;
            }
            (_, c) => {
                word.push(c);
                open = true;
            }
        }
    }
    assert!(quote.is_none(), "unclosed quote in {cmd}");
    if open {
        words.push(word);
    }
    words
}

/// One entry of litefs.yml's `exec`.
struct Step {
    argv: Vec<String>,
    if_candidate: bool,
}

fn steps(litefs: &Yaml) -> Vec<Step> {
    let exec = litefs.get("exec").and_then(Yaml::as_sequence);
    let exec = exec.expect("exec: a list of {cmd, if-candidate}");
    exec.iter()
        .map(|e| {
            let map = e.as_mapping().expect("exec entries are maps");
            for key in map.keys() {
                let key = key.as_str().unwrap_or_default();
                assert!(
                    ["cmd", "if-candidate"].contains(&key),
                    "exec: unknown {key}"
                );
            }
            Step {
                argv: words(e.get("cmd").and_then(Yaml::as_str).expect("cmd")),
                if_candidate: e.get("if-candidate").and_then(Yaml::as_bool) == Some(true),
            }
        })
        .collect()
}

/// A step that runs kith, directly or through `setpriv … --`: as whom
/// (setpriv's user and group) and how.
struct KithRun {
    user: Option<(String, String)>,
    program: String,
    sub: String,
    args: Vec<String>,
}

fn kith_run(argv: &[String]) -> Option<KithRun> {
    let (wrapper, command) = match argv.iter().position(|w| w == "--") {
        Some(i) if argv[0] == "setpriv" => (&argv[..i], &argv[i + 1..]),
        _ => (&argv[..0], argv),
    };
    let program = command.first()?;
    if program != "kith" && !program.ends_with("/kith") {
        return None;
    }
    let opt = |name: &str| {
        let eq = format!("{name}=");
        let inline = wrapper.iter().find_map(|w| w.strip_prefix(&eq));
        let at = wrapper.iter().position(|w| w == name);
        let next = at.and_then(|i| wrapper.get(i + 1)).map(String::as_str);
        inline
            .or(next)
            .unwrap_or_else(|| panic!("setpriv {name}"))
            .to_owned()
    };
    Some(KithRun {
        user: (!wrapper.is_empty()).then(|| (opt("--reuid"), opt("--regid"))),
        program: program.clone(),
        sub: command.get(1).expect("a kith subcommand").clone(),
        args: command[2..].to_vec(),
    })
}

/// The keys LiteFS 0.5 reads (cmd/litefs/config.go), by section; it
/// refuses others.
const LITEFS_KEYS: &[(&str, &str)] = &[
    (
        "",
        "exit-on-error skip-sync strict-verify exec data fuse http proxy lease backup log tracing",
    ),
    ("fuse", "dir allow-other debug"),
    ("data", "dir compress retention retention-monitor-interval"),
    ("http", "addr snapshot-timeout"),
    (
        "lease",
        "type hostname advertise-url candidate promote reconnect-delay demote-delay databases consul",
    ),
    ("lease.consul", "url key ttl lock-delay"),
];

fn litefs_http_port(litefs: &Yaml) -> u16 {
    let addr = litefs.get("http").and_then(|h| h.get("addr"));
    addr.and_then(Yaml::as_str).map_or(LITEFS_HTTP_PORT, |a| {
        a.rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("http.addr port")
    })
}

// ---- the tests ---------------------------------------------------------------

#[test]
fn every_kith_variable_in_fly_toml_is_known_and_its_value_accepted() {
    let serve = help("serve");
    let mut args = Vec::new();
    for (name, value) in fly_vars(&fly())
        .into_iter()
        .filter(|(n, _)| n.starts_with("KITH_"))
    {
        let flag = serve.vars.get(&name);
        let flag = flag
            .unwrap_or_else(|| panic!("fly.toml sets {name}; `kith serve` reads no such variable"));
        if serve.flags[flag] {
            args.push(format!("{flag}={value}"));
        } else if truthy(&value) {
            args.push(flag.clone());
        }
    }
    assert!(
        args.iter().any(|a| a.starts_with("--listen=")),
        "KITH_LISTEN"
    );
    assert_accepted("serve", &args);
}

#[test]
fn the_cluster_secret_is_not_in_fly_toml_nor_on_a_command_line() {
    const SECRET: &str = "KITH_CLUSTER_SECRET";
    let serve = help("serve");
    let secret_flag = serve
        .vars
        .get(SECRET)
        .expect("kith reads KITH_CLUSTER_SECRET");
    fn mentions(v: &Toml, name: &str) -> bool {
        match v {
            Toml::Table(t) => t.iter().any(|(k, v)| k == name || mentions(v, name)),
            Toml::Array(a) => a.iter().any(|v| mentions(v, name)),
            Toml::String(s) => s.contains(name),
            _ => false,
        }
    }
    let fly = fly();
    assert!(
        !mentions(&fly, SECRET),
        "fly.toml sets {SECRET}: use `fly secrets set`"
    );
    for step in steps(&litefs(&fly, fly_str(&fly, "primary_region"))) {
        let cmd = step.argv.join(" ");
        assert!(
            !cmd.contains(SECRET) && !cmd.contains(secret_flag.as_str()),
            "{cmd}"
        );
    }
    // It reaches kith as an environment variable set by Fly.
    assert!(repo_file("docs/deploy.md").contains(&format!("fly secrets set {SECRET}=")));
}

#[test]
fn litefs_migrates_on_the_candidate_then_serves_from_the_mount() {
    let (serve_help, migrate_help) = (help("serve"), help("migrate"));
    let fly = fly();
    let primary_region = fly_str(&fly, "primary_region");
    let elsewhere = if primary_region == "syd" {
        "ams"
    } else {
        "syd"
    };
    for (region, candidate) in [(primary_region, true), (elsewhere, false)] {
        let litefs = litefs(&fly, region);
        let lease = litefs.get("lease").expect("lease");
        let is_candidate = lease.get("candidate").and_then(Yaml::as_bool);
        assert_eq!(is_candidate, Some(candidate), "lease.candidate in {region}");
        let fuse_dir = Path::new(yaml_str(&litefs, "fuse.dir"));
        let steps = steps(&litefs);
        let runs: Vec<(usize, KithRun)> = steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| kith_run(&s.argv).map(|r| (i, r)))
            .collect();
        // LiteFS runs every command but the last to completion, then keeps
        // the last one as its child: that must be the server, on every node.
        let (last, serve) = runs.last().expect("kith in exec");
        assert_eq!((*last, serve.sub.as_str()), (steps.len() - 1, "serve"));
        assert!(!steps[*last].if_candidate, "the server runs on every node");
        let migrates: Vec<_> = runs.iter().filter(|(_, r)| r.sub == "migrate").collect();
        let [(m, migrate)] = migrates.as_slice() else {
            panic!("exactly one `kith migrate`")
        };
        assert!(
            steps[*m].if_candidate,
            "only a candidate (the primary) migrates"
        );

        let s = parse_args(&serve.args, &serve_help);
        let flag = |name: &str| s.get(name).map(String::as_str);
        assert_eq!(flag("--role"), Some("auto"));
        assert_eq!(flag("--litefs-dir").map(Path::new), Some(fuse_dir));
        assert_eq!(
            flag("--region"),
            Some(region),
            "FLY_REGION as kith's region"
        );
        let db = Path::new(flag("--db").expect("--db"));
        assert!(
            db.starts_with(fuse_dir) && db != fuse_dir,
            "the db is in the mount"
        );
        let m = parse_args(&migrate.args, &migrate_help);
        assert_eq!(
            m.get("--db").map(Path::new),
            Some(db),
            "migrate and serve on one db"
        );
        assert_accepted("serve", &serve.args);
        assert_accepted("migrate", &migrate.args);

        // kith without root: the mount must let it in, and the data
        // directory on the volume must be its own.
        assert_eq!(serve.user, migrate.user);
        if let Some((user, _)) = &serve.user {
            let allow_other = litefs.get("fuse").and_then(|f| f.get("allow-other"));
            assert_eq!(
                allow_other.and_then(Yaml::as_bool),
                Some(true),
                "fuse.allow-other"
            );
            let data_dir = flag("--data-dir").expect("--data-dir");
            assert!(
                steps[..*last].iter().any(|s| {
                    kith_run(&s.argv).is_none()
                        && s.argv.contains(&data_dir.to_owned())
                        && s.argv.iter().any(|w| w.contains(user.as_str()))
                }),
                "a step before the server gives {data_dir} to {user}"
            );
        }
    }
}

#[test]
fn litefs_yml_uses_only_keys_litefs_reads_and_a_consul_lease() {
    let fly = fly();
    let litefs = litefs(&fly, fly_str(&fly, "primary_region"));
    for (path, known) in LITEFS_KEYS {
        let section = path
            .split('.')
            .filter(|k| !k.is_empty())
            .try_fold(&litefs, |v, k| v.get(k));
        for key in section
            .and_then(Yaml::as_mapping)
            .into_iter()
            .flat_map(|m| m.keys())
        {
            let key = key.as_str().unwrap_or_default();
            assert!(
                known.split_whitespace().any(|k| k == key),
                "litefs.yml: LiteFS has no {path}.{key}"
            );
        }
    }
    // kith forwards writes itself; LiteFS's proxy would stand in its way.
    assert!(litefs.get("proxy").is_none(), "no proxy: section");
    assert_eq!(yaml_str(&litefs, "lease.type"), "consul");
    let promote = litefs.get("lease").and_then(|l| l.get("promote"));
    assert_eq!(promote.and_then(Yaml::as_bool), Some(true), "lease.promote");
    let env = fly_machine_env(&fly, "fra");
    let app = fly_str(&fly, "app");
    let url = format!(
        "http://{}.vm.{app}.internal:{}",
        env["FLY_ALLOC_ID"],
        litefs_http_port(&litefs)
    );
    assert_eq!(yaml_str(&litefs, "lease.advertise-url"), url);
    assert_eq!(yaml_str(&litefs, "lease.consul.url"), env["FLY_CONSUL_URL"]);
    assert!(
        yaml_str(&litefs, "lease.consul.key").contains(app),
        "a key per app"
    );
    let docs = repo_file("docs/deploy.md");
    assert!(
        docs.contains("fly consul attach"),
        "docs: fly consul attach"
    );
}

#[test]
fn ports_line_up() {
    let fly = fly();
    let vars = fly_vars(&fly);
    let listen = fly_addr(&vars, "KITH_LISTEN");
    assert!(
        listen.ip().is_unspecified(),
        "Fly's proxy does not dial loopback"
    );
    let port = i64::from(listen.port());
    let tcp = services(&fly, "tcp");
    assert!(!tcp.is_empty(), "a TCP service");
    for service in &tcp {
        assert_eq!(
            int(service.get("internal_port")),
            Some(port),
            "TCP internal_port"
        );
    }
    if let Some(ports) = tcp[0].get("ports").and_then(Toml::as_array) {
        let handlers = |public: i64| -> Vec<&str> {
            let p = ports.iter().find(|p| int(p.get("port")) == Some(public));
            let h = p.and_then(|p| p.get("handlers")).and_then(Toml::as_array);
            h.into_iter().flatten().filter_map(Toml::as_str).collect()
        };
        assert_eq!(handlers(443), ["tls", "http"], "HTTPS on 443");
        assert_eq!(handlers(80), ["http"], "HTTP on 80");
    }
    if !vars.get("KITH_NO_WEBTRANSPORT").is_some_and(|v| truthy(v)) {
        // Fly does not rewrite UDP ports, and /api/realtime/config names
        // kith's own port: public, internal and listen port are one.
        let udp = services(&fly, "udp");
        let [udp] = udp.as_slice() else {
            panic!("one UDP service for WebTransport")
        };
        assert_eq!(
            int(udp.get("internal_port")),
            Some(port),
            "UDP internal_port"
        );
        let public = udp
            .get("ports")
            .and_then(Toml::as_array)
            .expect("UDP ports");
        assert!(public.iter().all(|p| int(p.get("port")) == Some(port)));
        assert!(!public.is_empty());
        let docs = repo_file("docs/deploy.md");
        assert!(
            docs.contains("fly ips allocate-v4"),
            "UDP needs a dedicated IPv4"
        );
    }
    let cluster = fly_addr(&vars, "KITH_CLUSTER_LISTEN");
    if !vars.contains_key("KITH_CLUSTER_ADVERTISE") {
        // Fly's private network is IPv6; on a wildcard kith advertises
        // FLY_PRIVATE_IP.
        assert!(
            cluster.is_ipv6() && cluster.ip().is_unspecified(),
            "{cluster}"
        );
    }
    assert_ne!(
        cluster.port(),
        listen.port(),
        "WebTransport has that UDP port"
    );
    let all = fly
        .get("services")
        .and_then(Toml::as_array)
        .into_iter()
        .flatten();
    let exposed: Vec<_> = all.filter_map(|s| int(s.get("internal_port"))).collect();
    assert!(
        !exposed.contains(&i64::from(cluster.port())),
        "the cluster port is private"
    );
    let litefs = litefs(&fly, fly_str(&fly, "primary_region"));
    assert_ne!(
        litefs_http_port(&litefs),
        listen.port(),
        "LiteFS's API has that port"
    );
}

#[tokio::test]
async fn the_health_check_asks_a_path_kith_answers() {
    let fly = fly();
    let mut paths = Vec::new();
    for service in services(&fly, "tcp") {
        for key in ["http_checks", "checks"] {
            for check in service
                .get(key)
                .and_then(Toml::as_array)
                .into_iter()
                .flatten()
            {
                let method = check.get("method").and_then(Toml::as_str).unwrap_or("GET");
                assert!(method.eq_ignore_ascii_case("GET"), "{method}");
                paths.push(check.get("path").and_then(Toml::as_str).expect("path"));
            }
        }
    }
    assert_eq!(paths, ["/healthz"]);
    let app = spawn_app().await;
    let r = reqwest::get(app.url(paths[0])).await.expect("GET");
    assert_eq!(r.status(), 200);
}

#[test]
fn stopping_has_time_for_kiths_graceful_shutdown() {
    let fly = fly();
    assert!(["SIGTERM", "SIGINT"].contains(&fly_str(&fly, "kill_signal")));
    let workers = fly_vars(&fly)
        .get("KITH_WORKERS")
        .map_or(1, |w| w.parse().expect("a number"));
    let needed = shutdown_budget(workers).max(Duration::from_secs(45));
    let timeout = fly_duration(fly.get("kill_timeout").expect("kill_timeout"));
    assert!(timeout >= needed, "kill_timeout {timeout:?} < {needed:?}");
    // The systemd unit in docs/deploy.md (one worker).
    let docs = repo_file("docs/deploy.md");
    let line = docs
        .lines()
        .find_map(|l| l.trim().strip_prefix("TimeoutStopSec="));
    let secs: u64 = line
        .expect("TimeoutStopSec= in docs")
        .parse()
        .expect("seconds");
    assert!(
        Duration::from_secs(secs) >= shutdown_budget(1),
        "TimeoutStopSec={secs}"
    );
    assert!(docs.contains("KillSignal=SIGTERM") || docs.contains("KillSignal=SIGINT"));
}

#[test]
fn the_volume_holds_litefs_data_and_kiths_directory() {
    let fly = fly();
    let mounts = fly.get("mounts").expect("[mounts]");
    let mount = mounts.as_array().map_or(mounts, |a| &a[0]);
    let source = mount.get("source").and_then(Toml::as_str).expect("source");
    let dest = Path::new(
        mount
            .get("destination")
            .and_then(Toml::as_str)
            .expect("destination"),
    );
    let litefs = litefs(&fly, fly_str(&fly, "primary_region"));
    let data = Path::new(yaml_str(&litefs, "data.dir"));
    assert!(
        data.starts_with(dest),
        "data.dir {data:?} is not on the volume {dest:?}"
    );
    let fuse = Path::new(yaml_str(&litefs, "fuse.dir"));
    assert!(
        !fuse.starts_with(dest) && !dest.starts_with(fuse),
        "the mount is apart"
    );
    let steps = steps(&litefs);
    let serve = steps
        .iter()
        .rev()
        .find_map(|s| kith_run(&s.argv))
        .expect("serve");
    let serve = parse_args(&serve.args, &help("serve"));
    let kith_data = Path::new(serve.get("--data-dir").expect("--data-dir"));
    assert!(
        kith_data.starts_with(dest),
        "node key and media would not survive"
    );
    let docs = repo_file("docs/deploy.md");
    let named: Vec<&str> = docs
        .split("fly volumes create ")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next())
        .collect();
    assert!(
        !named.is_empty() && named.iter().all(|n| *n == source),
        "{named:?}"
    );
}

/// The Dockerfile's instructions by stage, continuation lines joined and
/// comments dropped.
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    let mut line = String::new();
    for part in repo_file("Dockerfile").lines().map(str::trim) {
        if part.is_empty() || part.starts_with('#') {
            continue;
        }
        if let Some(part) = part.strip_suffix('\\') {
            line = line + part + " ";
            continue;
        }
        let full = std::mem::take(&mut line) + part;
        let (op, rest) = full.split_once(' ').expect("an argument");
        let op = op.to_uppercase();
        if op == "FROM" {
            stages.push(Vec::new());
        }
        let stage = stages.last_mut().expect("FROM first");
        stage.push((op, rest.trim().to_owned()));
    }
    stages
}

/// Whether `program`, as exec names it, is the file at `path` (PATH as in
/// Debian's images).
fn resolves(program: &str, path: &str) -> bool {
    let dirs = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ];
    program == path || dirs.iter().any(|d| path == format!("{d}/{program}"))
}

#[test]
fn the_image_holds_what_litefs_yml_runs() {
    let stages = dockerfile_stages();
    let (builder, runtime) = (&stages[0], stages.last().expect("a stage"));
    let from: Vec<&str> = builder[0].1.split_whitespace().collect();
    // The same Debian release on both sides: the binary needs the glibc it
    // was linked against.
    let release = |image: &str| {
        let known = ["bullseye", "bookworm", "trixie"];
        known
            .into_iter()
            .find(|r| image.split([':', '-']).any(|w| w == *r))
    };
    let runtime_image = runtime[0].1.split_whitespace().next().expect("image");
    assert!(from[0].starts_with("rust:"), "{from:?}");
    assert!(
        release(from[0]).is_some(),
        "a Debian release in {}",
        from[0]
    );
    assert_eq!(release(from[0]), release(runtime_image));
    let builder_name = from.get(2).expect("FROM … AS name");
    let runs = |stage: &[(String, String)]| -> Vec<String> {
        stage
            .iter()
            .filter(|(op, _)| op == "RUN")
            .map(|(_, r)| r.clone())
            .collect()
    };
    assert!(
        runs(builder)
            .iter()
            .any(|r| r.contains("cargo build --release -p kith --locked"))
    );
    let installed: Vec<String> = runs(runtime)
        .iter()
        .filter_map(|r| r.split_once("apt-get install").map(|(_, t)| t.to_owned()))
        .flat_map(|t| {
            let t = t.split("&&").next().unwrap_or_default().to_owned();
            t.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    for pkg in ["ffmpeg", "fuse3", "ca-certificates", "util-linux"] {
        assert!(installed.iter().any(|p| p == pkg), "apt-get install {pkg}");
    }
    let copies: Vec<(Option<&str>, Vec<&str>)> = runtime
        .iter()
        .filter(|(op, _)| op == "COPY")
        .map(|(_, rest)| {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let from = words.iter().find_map(|w| w.strip_prefix("--from="));
            (
                from,
                words.into_iter().filter(|w| !w.starts_with("--")).collect(),
            )
        })
        .collect();
    let copied = |from: &dyn Fn(Option<&str>) -> bool, src: &str| -> String {
        let c = copies
            .iter()
            .find(|(f, w)| from(*f) && w.len() == 2 && w[0].ends_with(src));
        c.unwrap_or_else(|| panic!("COPY {src}")).1[1].to_owned()
    };
    let litefs_bin = copied(
        &|f| f.is_some_and(|f| f.starts_with("flyio/litefs:")),
        "/usr/local/bin/litefs",
    );
    let kith_bin = copied(&|f| f == Some(builder_name), "/target/release/kith");
    assert_eq!(copied(&|f| f.is_none(), "litefs.yml"), "/etc/litefs.yml");
    let entry = runtime
        .iter()
        .find(|(op, _)| op == "ENTRYPOINT")
        .expect("ENTRYPOINT");
    let entry: Vec<String> = serde_json::from_str(&entry.1).expect("ENTRYPOINT [\"…\"]");
    assert!(
        resolves(&entry[0], &litefs_bin) && entry[1] == "mount",
        "{entry:?}"
    );

    let fly = fly();
    let litefs = litefs(&fly, fly_str(&fly, "primary_region"));
    // Each `useradd …` command's words.
    let users: Vec<Vec<String>> = runs(runtime)
        .iter()
        .flat_map(|r| r.split("&&"))
        .filter(|c| c.contains("useradd"))
        .map(|c| c.split_whitespace().map(str::to_owned).collect())
        .collect();
    for run in steps(&litefs).iter().filter_map(|s| kith_run(&s.argv)) {
        assert!(
            resolves(&run.program, &kith_bin),
            "exec runs {}",
            run.program
        );
        if let Some((user, group)) = &run.user {
            let made = users.iter().any(|w| {
                let flag = |f: &str| w.iter().any(|x| x == f);
                w.last() == Some(user) && (group != user || flag("--user-group") || flag("-U"))
            });
            assert!(made, "the image has no user {user}:{group}");
        }
    }
    let ignored = repo_file(".dockerignore");
    assert!(
        ignored.lines().any(|l| l.trim_matches('/') == "target"),
        ".dockerignore target"
    );
}
