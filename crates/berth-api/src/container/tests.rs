use expect_test::expect;

use super::*;
use crate::ApiVersion;

#[test]
fn create_body_is_read_like_go_reads_it() {
    // What the docker CLI sends: nulls for nil slices and maps, a string Cmd from old clients,
    // unknown fields from newer ones, Resources inline in HostConfig.
    let body = serde_json::json!({
        "Hostname": "", "Image": "busybox", "Cmd": "echo hi", "Entrypoint": null,
        "Env": null, "Labels": {"a": "b"}, "Tty": true, "OpenStdin": true,
        "FutureField": {"x": 1}, "StopTimeout": null, "User": null,
        "HostConfig": {
            "Binds": null, "Memory": 1048576, "NanoCpus": 500000000, "CapAdd": "NET_ADMIN",
            "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]},
            "PidsLimit": null, "Ulimits": [{"Name": "nofile", "Hard": 10, "Soft": 5}],
            "BlkioDeviceReadIOps": [{"Path": "/dev/sda", "Rate": 7}], "UTSMode": "host",
            "Mounts": [{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 4}}]
        },
        "NetworkingConfig": {"EndpointsConfig": {"net1": {"Aliases": ["a"], "IPAMConfig": null}}}
    });
    let create: ContainerCreateBody = decode_body(body).expect("decodes");
    assert_eq!(create.config.cmd, Some(vec!["echo hi".to_owned()]));
    assert_eq!(create.config.entrypoint, None);
    assert_eq!(create.config.env, None);
    assert!(create.config.tty && create.config.open_stdin);
    let host = create.host_config.expect("host config");
    assert_eq!(host.resources.memory, 1_048_576);
    assert_eq!(host.resources.nano_cpus, 500_000_000);
    assert_eq!(host.resources.pids_limit, None);
    assert_eq!(host.cap_add, Some(vec!["NET_ADMIN".to_owned()]));
    assert_eq!(host.uts_mode, "host");
    assert_eq!(host.resources.blkio_device_read_iops.as_ref().map(Vec::len), Some(1));
    assert_eq!(host.resources.ulimits.as_ref().map(|u| u[0].soft), Some(5));
    let net = create.networking_config.expect("networking");
    assert!(net.endpoints_config.expect("endpoints").contains_key("net1"));

    let bad = decode_body::<ContainerCreateBody>(serde_json::json!({"Tty": "yes"}));
    assert!(bad.is_err());
}

#[test]
fn host_config_marshals_like_dockerd() {
    let host = HostConfig {
        network_mode: "bridge".into(),
        log_config: LogConfig { kind: "json-file".into(), config: Some(Default::default()) },
        ..HostConfig::default()
    };
    expect![[r#"{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{}},"NetworkMode":"bridge","PortBindings":null,"RestartPolicy":{"Name":"","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":null,"DnsOptions":null,"DnsSearch":null,"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null}"#]]
    .assert_eq(&serde_json::to_string(&host).expect("json"));
}

#[test]
fn config_marshals_like_dockerd() {
    let config = Config {
        image: "busybox".into(),
        cmd: Some(vec!["sh".into()]),
        stop_timeout: Some(3),
        ..Config::default()
    };
    expect![[r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":["sh"],"Image":"busybox","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null,"StopTimeout":3}"#]]
    .assert_eq(&serde_json::to_string(&config).expect("json"));
}

#[test]
fn summary_and_inspect_follow_the_version_rules() {
    let summary = ContainerSummary {
        id: "abc".into(),
        host_config: SummaryHostConfig {
            network_mode: "bridge".into(),
            annotations: Some([("a".to_owned(), "b".to_owned())].into()),
        },
        image_manifest_descriptor: Some(Descriptor::default()),
        ..ContainerSummary::default()
    };
    let v = |minor| ApiVersion::new(1, minor);
    assert!(summary.clone().for_api(v(46)).host_config.annotations.is_some());
    assert!(summary.clone().for_api(v(45)).host_config.annotations.is_none());
    assert!(summary.clone().for_api(v(48)).image_manifest_descriptor.is_some());
    assert!(summary.clone().for_api(v(47)).image_manifest_descriptor.is_none());

    let mut networks = BTreeMap::new();
    networks.insert(
        "mynet".to_owned(),
        EndpointSettings { aliases: Some(vec!["web".into()]), ..EndpointSettings::default() },
    );
    networks.insert("bridge".to_owned(), EndpointSettings::default());
    let inspect = ContainerInspect {
        id: "0123456789abcdef".into(),
        config: Some(Config { hostname: "0123456789ab".into(), ..Config::default() }),
        network_settings: Some(NetworkSettings {
            networks: Some(networks),
            ..NetworkSettings::default()
        }),
        ..ContainerInspect::default()
    };
    let aliases = |i: &ContainerInspect, net: &str| {
        i.network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .and_then(|n| n.get(net).and_then(|e| e.aliases.clone()))
    };
    let old = inspect.clone().for_api(v(44));
    assert_eq!(aliases(&old, "mynet"), Some(vec!["web".to_owned(), "0123456789ab".to_owned()]));
    assert_eq!(aliases(&old, "bridge"), None);
    assert_eq!(aliases(&inspect.clone().for_api(v(45)), "mynet"), Some(vec!["web".to_owned()]));
}

#[test]
fn small_answers_marshal_like_dockerd() {
    let wait = ContainerWaitResponse { error: None, status_code: 3 };
    assert_eq!(serde_json::to_string(&wait).expect("json"), r#"{"StatusCode":3}"#);
    let prune = ContainerPruneReport::default();
    assert_eq!(
        serde_json::to_string(&prune).expect("json"),
        r#"{"ContainersDeleted":null,"SpaceReclaimed":0}"#
    );
    let stats = ContainerStats { read: "r".into(), preread: "p".into(), ..Default::default() };
    expect![[r#"{"read":"r","preread":"p","pids_stats":{},"blkio_stats":{"io_service_bytes_recursive":null,"io_serviced_recursive":null,"io_queue_recursive":null,"io_service_time_recursive":null,"io_wait_time_recursive":null,"io_merged_recursive":null,"io_time_recursive":null,"sectors_recursive":null},"num_procs":0,"storage_stats":{},"cpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"precpu_stats":{"cpu_usage":{"total_usage":0,"usage_in_kernelmode":0,"usage_in_usermode":0},"throttling_data":{"periods":0,"throttled_periods":0,"throttled_time":0}},"memory_stats":{}}"#]]
    .assert_eq(&serde_json::to_string(&stats).expect("json"));
    assert_eq!(WaitCondition::parse("next-exit"), Some(WaitCondition::NextExit));
    assert_eq!(WaitCondition::parse("bogus"), None);
}

#[test]
fn exec_detach_keys_are_read_whatever_their_case_as_go_reads_them() {
    let body: ExecCreateBody =
        decode_body(serde_json::json!({"Cmd": ["cat"], "detachKeys": "ctrl-p"}))
            .expect("docker-py's body");
    assert_eq!(body.detach_keys, "ctrl-p");
}
