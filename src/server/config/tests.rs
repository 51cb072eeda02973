//! The config's unit tests: defaults, precedence, errors naming their field, cluster keys, and
//! that the declarations, `--help` and the naming rules agree.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::server::resp;

fn with_file(text: &str) -> (tempfile::TempDir, ServeArgs) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meshkv.toml");
    std::fs::write(&path, text).unwrap();
    let args = ServeArgs {
        config: Some(path),
        ..ServeArgs::default()
    };
    (dir, args)
}

#[test]
fn defaults_are_the_library_defaults() {
    let c = ServerConfig::load_with(&ServeArgs::default(), None).unwrap();
    assert_eq!(c.options, Options::default());
    assert_eq!(c.node.listen, NodeConfig::default().listen);
    assert_eq!(c.http_listen.to_string(), DEFAULT_HTTP_LISTEN);
    assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert!(c.node.discovery.is_none());
    assert!(c.resp.is_none());
}

#[test]
fn resp_listener_options() {
    let (_d, args) = with_file("resp_listen = \"127.0.0.1:0\"\nresp_max_args = 16\n");
    let r = ServerConfig::load_with(&args, None).unwrap().resp.unwrap();
    assert_eq!(r.listen.to_string(), "127.0.0.1:0");
    assert_eq!(r.limits.max_args, 16);
    assert_eq!(r.limits.max_bulk, Options::default().max_value_size);
    assert_eq!(r.max_clients, resp::DEFAULT_MAX_CLIENTS);
    let (_d, args) = with_file("resp_listen = \"0.0.0.0:0\"\nallow_insecure = true\n");
    assert!(ServerConfig::load_with(&args, None).unwrap().resp.is_some());
}

#[test]
fn flag_wins_over_file() {
    let (_d, mut args) =
        with_file("cluster = \"file\"\nheartbeat_interval = \"250ms\"\n[discovery]\nttl = 0\n");
    args.node.cluster = Some("flag".into());
    let c = ServerConfig::load_with(&args, None).unwrap();
    assert_eq!(c.node.cluster, "flag");
    assert_eq!(c.node.heartbeat_interval, Duration::from_millis(250));
    assert_eq!(c.node.discovery.unwrap().ttl, 0);
}

#[test]
fn bad_fields_are_named() {
    let field = |text: &str| {
        let (_d, args) = with_file(text);
        ServerConfig::load_with(&args, None).unwrap_err().field
    };
    assert_eq!(field("bogus = 1\n"), "bogus");
    assert_eq!(field("listen = \"nowhere\"\n"), "listen");
    assert_eq!(
        field("heartbeat_interval = \"5 parsecs\"\n"),
        "heartbeat_interval"
    );
    assert_eq!(field("durability = \"maybe\"\n"), "durability");
    assert_eq!(field("cache_size = 1\n"), "cache_size");
    assert_eq!(field("listen = \"0.0.0.0:7070\"\n"), "cluster_keys");
    assert_eq!(field("http_listen = \"0.0.0.0:8080\"\n"), "http_listen");
    assert_eq!(
        field("cluster_key_file = \"/nonexistent/key\"\n"),
        "cluster_key_file"
    );
    assert_eq!(field("[discovery]\nttl = 300\n"), "discovery.ttl");
    assert_eq!(field("resp_listen = \"0.0.0.0:6379\"\n"), "resp_listen");
    assert_eq!(field("resp_listen = \"x\"\n"), "resp_listen");
    assert_eq!(field("resp_max_bulk = 0\n"), "resp_max_bulk");
    assert_eq!(field("resp_max_args = 2\n"), "resp_max_args");
    assert_eq!(
        field("resp_max_bulk = 100\nresp_max_request = 100\n"),
        "resp_max_request"
    );
    assert_eq!(field("resp_max_clients = 0\n"), "resp_max_clients");
}

#[test]
fn keys_from_files_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let k1 = dir.path().join("k1");
    std::fs::write(
        &k1,
        format!("# new key\n{}\n\n{}\n", "ab".repeat(32), "cd".repeat(16)),
    )
    .unwrap();
    let args = ServeArgs {
        node: NodeSettings {
            cluster_key_file: Some(vec![k1]),
            ..NodeSettings::default()
        },
        ..ServeArgs::default()
    };
    let c = ServerConfig::load_with(&args, None).unwrap();
    assert_eq!(c.node.cluster_keys, vec![vec![0xab; 32], vec![0xcd; 16]]);
    let env = format!("{},{}", "01".repeat(16), "02".repeat(16));
    let c = ServerConfig::load_with(&args, Some(&env)).unwrap();
    assert_eq!(c.node.cluster_keys, vec![vec![1; 16], vec![2; 16]]);
    let e = ServerConfig::load_with(&args, Some("xyz")).unwrap_err();
    assert_eq!(e.field, CLUSTER_KEY_ENV);
    assert!(!format!("{:?}", c.node).contains("0101"));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
    assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
    assert!(parse_duration("5").is_err());
    assert!(parse_duration("s").is_err());
}

/// `meshkv serve`'s flags alone, as the binary parses them.
#[derive(clap::Parser)]
struct Serve {
    #[command(flatten)]
    args: ServeArgs,
}

fn parse(flags: &[&str]) -> Result<ServeArgs, clap::Error> {
    use clap::Parser as _;
    let argv = std::iter::once("serve").chain(flags.iter().copied());
    Serve::try_parse_from(argv).map(|s| s.args)
}

#[test]
fn help_shows_each_declaration_in_order() {
    use clap::CommandFactory as _;
    let command = Serve::command();
    let args: Vec<_> = command
        .get_arguments()
        .filter(|a| a.get_long().is_some_and(|l| l != "config" && l != "help"))
        .collect();
    let declared = settings();
    assert_eq!(args.len(), declared.len());
    for (arg, s) in args.iter().zip(&declared) {
        assert_eq!(arg.get_long(), Some(s.flag), "{}", s.file);
        assert_eq!(
            arg.get_env().and_then(|e| e.to_str()),
            Some(s.env),
            "{}",
            s.file
        );
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        assert_eq!(help, format!("{} [default: {}]", s.help, s.default));
    }
    let shown = |file: &str| {
        declared
            .iter()
            .find(|s| s.file == file)
            .map(|s| s.default.clone())
    };
    assert_eq!(shown("http_listen").as_deref(), Some(DEFAULT_HTTP_LISTEN));
    assert_eq!(shown("reconnect_min").as_deref(), Some("100ms"));
    assert_eq!(
        shown("discovery.group").as_deref(),
        Some("239.255.70.70:7946")
    );
    assert_eq!(shown("max_key_size").as_deref(), Some("65536"));
}

#[test]
fn names_follow_the_file_field() {
    // The flag is the file field with `-` for `_` (a table's fields prefixed by the table), the
    // environment variable `MESHKV_` and the same in capitals; these are the exceptions.
    let exceptions = [
        ("peers", "peer", "MESHKV_PEERS"),
        ("discovery.enabled", "discovery", "MESHKV_DISCOVERY"),
    ];
    for s in settings() {
        let (flag, env) = match exceptions.iter().find(|e| e.0 == s.file) {
            Some(&(_, flag, env)) => (flag.to_string(), env.to_string()),
            None => {
                let flag = s.file.replace(['.', '_'], "-");
                let env = format!("MESHKV_{}", flag.replace('-', "_").to_uppercase());
                (flag, env)
            }
        };
        assert_eq!((s.flag, s.env), (flag.as_str(), env.as_str()), "{}", s.file);
    }
}

#[test]
fn flags_parse_as_declared() {
    let a = parse(&["--allow-insecure", "--peer", "a:1", "--peer", "b:2,c:3"]).unwrap();
    assert_eq!(a.node.allow_insecure, Some(true));
    assert_eq!(
        a.node.peers,
        Some(vec!["a:1".to_string(), "b:2".into(), "c:3".into()])
    );
    let a = parse(&["--discovery", "false", "--reconnect-min", "250ms"]).unwrap();
    assert_eq!(a.discovery.enabled, Some(false));
    assert_eq!(a.node.reconnect_min, Some(Duration::from_millis(250)));
    assert_eq!(parse(&[]).unwrap().storage.data_dir, None);
    for bad in [
        &["--listen", "nowhere"][..],
        &["--durability", "maybe"],
        &["--node-id", "12"],
        &["--max-key-size", "big"],
        &["--discovery-interval", "5"],
    ] {
        let e = parse(bad).map(|_| ()).unwrap_err();
        assert!(e.to_string().contains(bad[0]), "{bad:?}: {e}");
    }
}

#[test]
fn file_values_and_tables() {
    let (_d, args) = with_file(
        "peers = [\"a:1\", \"b:2\"]\ncluster_key_file = []\nnode_id = \
         \"000102030405060708090a0b0c0d0e0f\"\n[discovery]\ninterval = \"2s\"\n",
    );
    let c = ServerConfig::load_with(&args, None).unwrap();
    assert_eq!(c.node.peers, vec!["a:1".to_string(), "b:2".into()]);
    assert_eq!(
        c.options.node_id.map(|n| n.to_string()).as_deref(),
        Some("000102030405060708090a0b0c0d0e0f")
    );
    let d = c.node.discovery.unwrap();
    assert_eq!(d.interval, Duration::from_secs(2));
    assert_eq!(d.ttl, crate::MulticastConfig::default().ttl);

    // `enabled = false` turns it off, and the table's other fields are then not read.
    let (_d, args) = with_file("[discovery]\nenabled = false\ngroup = \"x\"\n");
    let c = ServerConfig::load_with(&args, None).unwrap();
    assert!(c.node.discovery.is_none());
    // A flag wins over the table.
    let (_d, mut args) = with_file("[discovery]\nttl = 0\n");
    args.discovery.enabled = Some(false);
    assert!(ServerConfig::load_with(&args, None)
        .unwrap()
        .node
        .discovery
        .is_none());

    let field = |text: &str| {
        let (_d, args) = with_file(text);
        ServerConfig::load_with(&args, None).unwrap_err()
    };
    // The first unknown field in the file's order, with what was expected.
    let e = field("listen = \"127.0.0.1:0\"\nzzz = 1\naaa = 2\n");
    assert_eq!(e.field, "zzz");
    assert!(e.problem.contains("expected one of `data_dir`"), "{e}");
    assert_eq!(
        field("[discovery]\ngroup = \"x\"\n").field,
        "discovery.group"
    );
    assert_eq!(field("max_key_size = \"big\"\n").field, "max_key_size");
    assert_eq!(field("node_id = \"12\"\n").field, "node_id");
    assert_eq!(field("data_dir = \"\"\n").field, "data_dir");
    assert_eq!(field("peers = [\"no-port\"]\n").field, "peers");
    assert_eq!(field("discovery = 1\n").field, "discovery");
}
