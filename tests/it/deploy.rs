//! The deployment files in `deploy/`: the systemd unit passes `systemd-analyze verify` with
//! the real binary, and the container files have the shape the README promises (they cannot
//! be built here: no container registry is reachable).

use std::path::Path;
use std::process::Command;

fn deploy_file(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("deploy")
            .join(name),
    )
    .unwrap_or_else(|e| panic!("deploy/{name}: {e}"))
}

#[test]
fn systemd_unit_verifies_and_is_hardened() {
    let unit = deploy_file("parley.service");
    for line in [
        "User=parley",
        "Restart=on-failure",
        "ExecStart=/usr/local/bin/parley serve --config /etc/parley/parley.yaml",
        "StateDirectory=parley",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "CapabilityBoundingSet=",
    ] {
        assert!(
            unit.lines().any(|l| l == line),
            "deploy/parley.service lacks `{line}`"
        );
    }
    if Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(
            std::env::var("CI").is_err(),
            "systemd-analyze is needed in CI (apt-get install systemd)"
        );
        eprintln!("SKIPPED: systemd-analyze verify (systemd-analyze is missing)");
        return;
    }
    // Verify the unit as written, with ExecStart pointing at the binary just built (verify
    // checks that the executable exists).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parley.service");
    std::fs::write(
        &path,
        unit.replace("/usr/local/bin/parley", env!("CARGO_BIN_EXE_parley")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("run systemd-analyze");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        // Not about the unit: the machine running the tests may have no systemd running.
        .filter(|l| !l.contains("Failed to connect") && !l.trim().is_empty())
        .filter(|l| l.contains("parley.service"))
        .collect();
    assert!(
        out.status.success() && problems.is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn dockerfile_builds_in_one_stage_and_runs_unprivileged_in_another() {
    let file = deploy_file("Dockerfile");
    let instructions: Vec<&str> = file
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let froms: Vec<&&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .collect();
    assert_eq!(
        froms.len(),
        2,
        "a build stage and a runtime stage: {froms:?}"
    );
    assert!(froms[0].ends_with(" AS build"));
    assert!(file.contains("cargo build --release --locked --bin parley"));
    assert!(file.contains("COPY --from=build /src/target/release/parley /usr/local/bin/parley"));
    let user = instructions
        .iter()
        .rev()
        .find(|l| l.starts_with("USER "))
        .expect("a USER instruction");
    assert!(!user.contains("root") && !user.ends_with(" 0"), "{user}");
    assert!(instructions
        .iter()
        .any(|l| l.starts_with("HEALTHCHECK ") && file.contains("/readyz")));
    assert!(file.contains(
        r#"ENTRYPOINT ["/usr/local/bin/parley", "serve", "--config", "/etc/parley/parley.yaml"]"#
    ));
    // The build context leaves out what would make it huge or leak data.
    let ignore =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(".dockerignore"))
            .expect(".dockerignore");
    for entry in ["target", "*.db"] {
        assert!(
            ignore.lines().any(|l| l == entry),
            ".dockerignore lacks {entry}"
        );
    }
}

#[test]
fn compose_runs_two_parley_processes_on_one_postgres() {
    let compose: serde_yaml::Value =
        serde_yaml::from_str(&deploy_file("compose.yaml")).expect("compose.yaml is YAML");
    let services = compose["services"].as_mapping().expect("services");
    let parley: Vec<&serde_yaml::Value> = services
        .iter()
        .filter(|(name, _)| name.as_str().is_some_and(|n| n.starts_with("parley")))
        .map(|(_, v)| v)
        .collect();
    assert_eq!(parley.len(), 2, "two Parley processes");
    let postgres = &compose["services"]["postgres"];
    assert!(postgres["healthcheck"]["test"].is_sequence());
    for service in parley {
        // serde_yaml resolves the `<<: *parley` merge key only on request.
        let mut service = service.clone();
        service.apply_merge().expect("merge keys");
        assert_eq!(
            service["depends_on"]["postgres"]["condition"].as_str(),
            Some("service_healthy")
        );
        assert!(service["environment"]["DATABASE_URL"]
            .as_str()
            .is_some_and(|u| u.starts_with("postgres://")));
        assert_eq!(service["restart"].as_str(), Some("on-failure"));
        assert!(service["ports"].is_sequence());
    }
}
