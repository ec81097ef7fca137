using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using KubeEmulator.Api;
using KubeEmulator.Hosting;
using KubeEmulator.Json;
using KubeEmulator.Resources;
using KubeEmulator.Selectors;
using KubeEmulator.Store;

namespace KubeEmulator.Controller;

/// <summary>
/// A simulated KServe controller in Standard (raw Deployment) mode. It watches InferenceServices through the same
/// store clients use, and for every new generation reports "progressing", creates the predictor Deployment,
/// Service and Pods, and after <see cref="EmulatorOptions.ReadyDelay"/> marks everything Ready with a URL served
/// by <see cref="Serving.ModelServer"/>. Deleting the InferenceService removes its workloads by garbage collection.
/// </summary>
internal sealed class KServeController(
    ResourceStore store, ResourceRegistry registry, EmulatorOptions options, EmulatorAddress address, PodLogs logs,
    ILogger<KServeController> logger) : BackgroundService
{
    /// <summary>Generation of each InferenceService (by uid) whose Ready transition is scheduled.</summary>
    private readonly ConcurrentDictionary<string, (long Generation, CancellationTokenSource Cancel)> _pending = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // As an informer does: when the watch ends (a compaction expired it, or it fell behind), list again.
            while (!stoppingToken.IsCancellationRequested)
            {
                var subscription = store.OpenWatch(registry.InferenceServices, null, "0");
                try
                {
                    foreach (var e in subscription.Initial) Handle(e, stoppingToken);
                    await foreach (var e in subscription.Reader.ReadAllAsync(stoppingToken)) Handle(e, stoppingToken);
                }
                finally
                {
                    store.CloseWatch(subscription);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Emulator stopping.
        }
        finally
        {
            foreach (var (_, pending) in _pending) pending.Cancel.Cancel();
        }
    }

    private void Handle(WatchEvent e, CancellationToken stoppingToken)
    {
        var info = InferenceServiceInfo.From(e.Object);
        try
        {
            if (e.Type == "DELETED")
            {
                if (_pending.TryRemove(info.Uid, out var p)) p.Cancel.Cancel();
                // Its pods went with it (garbage collection); their output goes too.
                logs.ForgetPods(info.Namespace, info.PredictorName + "-");
                return;
            }
            if (e.Object["metadata"]?["deletionTimestamp"] is not null) return;
            Reconcile(e.Object, info, stoppingToken);
        }
        catch (ApiException ex) when (ex.Code is 404 or 409)
        {
            // The object changed or vanished meanwhile; the event for that change drives the next reconcile.
        }
        catch (ApiException ex)
        {
            logger.LogWarning("Simulated KServe controller could not reconcile {Ns}/{Name}: {Message}", info.Namespace, info.Name, ex.Message);
        }
    }

    private void Reconcile(JsonObject isvc, InferenceServiceInfo info, CancellationToken stoppingToken)
    {
        var observed = JsonTree.Long(isvc["status"]?["observedGeneration"]);
        var scheduled = _pending.TryGetValue(info.Uid, out var p) && p.Generation == info.Generation;
        if (observed == info.Generation && (scheduled || InferenceServiceInfo.IsReady(isvc))) return;

        if (observed != info.Generation)
        {
            WriteStatus(info, _ => ProgressingStatus(info));
            EnsureWorkloads(info, ready: false);
        }
        ScheduleReady(info, stoppingToken);
    }

    private void ScheduleReady(InferenceServiceInfo info, CancellationToken stoppingToken)
    {
        var cancel = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        if (_pending.TryRemove(info.Uid, out var previous)) previous.Cancel.Cancel();
        _pending[info.Uid] = (info.Generation, cancel);
        _ = Task.Run(async () =>
        {
            try
            {
                await Task.Delay(options.ReadyDelay, cancel.Token);
                MarkReady(info);
            }
            catch (OperationCanceledException)
            {
                // Superseded by a newer generation, deleted, or stopping.
            }
            catch (ApiException ex)
            {
                logger.LogDebug("Ready transition of {Ns}/{Name} skipped: {Message}", info.Namespace, info.Name, ex.Message);
            }
        }, CancellationToken.None);
    }

    private void MarkReady(InferenceServiceInfo scheduled)
    {
        var isvc = store.TryGet(registry.InferenceServices, scheduled.Namespace, scheduled.Name);
        if (isvc is null) return;
        var info = InferenceServiceInfo.From(isvc);
        if (info.Uid != scheduled.Uid || info.Generation != scheduled.Generation) return;
        EnsureWorkloads(info, ready: true);
        WriteStatus(info, _ => ReadyStatus(info));
    }

    private void WriteStatus(InferenceServiceInfo info, Func<JsonObject, JsonObject> status) =>
        store.Update(registry.InferenceServices, info.Namespace, info.Name, current =>
        {
            current["status"] = status(current);
            return current;
        }, WriteScope.Status, requireResourceVersion: false);

    private static JsonObject Condition(string type, string status, string? reason = null, string? message = null)
    {
        var c = new JsonObject { ["type"] = type, ["status"] = status, ["lastTransitionTime"] = JsonTree.Now() };
        if (reason is not null) c["reason"] = reason;
        if (message is not null) c["message"] = message;
        return c;
    }

    private JsonObject ProgressingStatus(InferenceServiceInfo info) => new()
    {
        ["observedGeneration"] = info.Generation,
        ["conditions"] = new JsonArray(
            Condition("IngressReady", "Unknown", "PredictorNotReady", "Ingress is waiting for the predictor"),
            Condition("PredictorReady", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
            Condition("Ready", "False", "PredictorNotReady", "Predictor is not ready")),
        ["modelStatus"] = new JsonObject
        {
            ["transitionStatus"] = "InProgress",
            ["states"] = new JsonObject { ["activeModelState"] = "", ["targetModelState"] = "Pending" },
            ["copies"] = new JsonObject { ["failedCopies"] = 0 },
        },
        ["deploymentMode"] = "Standard",
        ["servingRuntimeName"] = info.RuntimeName,
    };

    private JsonObject ReadyStatus(InferenceServiceInfo info)
    {
        var url = ServingUrl(info);
        var clusterUrl = $"http://{info.PredictorName}.{info.Namespace}.svc.cluster.local";
        var revision = $"{info.PredictorName}-{info.Generation:00000}";
        return new JsonObject
        {
            ["observedGeneration"] = info.Generation,
            ["url"] = url,
            ["address"] = new JsonObject { ["url"] = clusterUrl },
            ["components"] = new JsonObject
            {
                ["predictor"] = new JsonObject
                {
                    ["url"] = url,
                    ["address"] = new JsonObject { ["url"] = clusterUrl },
                    ["latestCreatedRevision"] = revision,
                    ["latestReadyRevision"] = revision,
                    ["latestRolledoutRevision"] = revision,
                },
            },
            ["conditions"] = new JsonArray(
                Condition("IngressReady", "True"),
                Condition("PredictorReady", "True"),
                Condition("Ready", "True")),
            ["modelStatus"] = new JsonObject
            {
                ["transitionStatus"] = "UpToDate",
                ["states"] = new JsonObject { ["activeModelState"] = "Loaded", ["targetModelState"] = "Loaded" },
                ["copies"] = new JsonObject { ["failedCopies"] = 0, ["totalCopies"] = info.Replicas },
            },
            ["deploymentMode"] = "Standard",
            ["servingRuntimeName"] = info.RuntimeName,
        };
    }

    /// <summary>Where this machine can call the model: the emulator's own address (see ModelServer).</summary>
    private string ServingUrl(InferenceServiceInfo info) => $"{address.BaseUrl}/serving/{info.Namespace}/{info.Name}";

    private void EnsureWorkloads(InferenceServiceInfo info, bool ready)
    {
        var deployment = EnsureDeployment(info, ready);
        EnsureService(info);
        EnsurePods(info, deployment, ready);
    }

    private static JsonObject OwnerReference(string apiVersion, string kind, string name, string uid) => new()
    {
        ["apiVersion"] = apiVersion,
        ["kind"] = kind,
        ["name"] = name,
        ["uid"] = uid,
        ["controller"] = true,
        ["blockOwnerDeletion"] = true,
    };

    private static JsonObject Labels(InferenceServiceInfo info) => new()
    {
        [InferenceServiceInfo.IsvcLabel] = info.Name,
        ["component"] = "predictor",
        ["app"] = $"isvc.{info.PredictorName}",
    };

    private JsonObject EnsureDeployment(InferenceServiceInfo info, bool ready)
    {
        var desired = new JsonObject
        {
            ["apiVersion"] = "apps/v1",
            ["kind"] = "Deployment",
            ["metadata"] = new JsonObject
            {
                ["name"] = info.PredictorName,
                ["labels"] = Labels(info),
                ["ownerReferences"] = new JsonArray(OwnerReference($"{ResourceRegistry.KServeGroup}/v1beta1", "InferenceService", info.Name, info.Uid)),
            },
            ["spec"] = new JsonObject
            {
                ["replicas"] = info.Replicas,
                ["selector"] = new JsonObject { ["matchLabels"] = new JsonObject { ["app"] = $"isvc.{info.PredictorName}" } },
                ["template"] = new JsonObject
                {
                    ["metadata"] = new JsonObject { ["labels"] = Labels(info) },
                    ["spec"] = PodSpec(info, nodeName: null),
                },
            },
            ["status"] = DeploymentStatus(info, ready),
        };
        var existing = store.TryGet(registry.Deployments, info.Namespace, info.PredictorName);
        if (existing is null)
            return store.Create(registry.Deployments, info.Namespace, desired, keepStatus: true);
        return store.Update(registry.Deployments, info.Namespace, info.PredictorName, current =>
        {
            current["metadata"]!["labels"] = Labels(info);
            current["spec"] = desired["spec"]!.DeepClone();
            current["status"] = DeploymentStatus(info, ready, JsonTree.Long(current["metadata"]!["generation"]));
            return current;
        }, WriteScope.All, requireResourceVersion: false);
    }

    private static JsonObject DeploymentStatus(InferenceServiceInfo info, bool ready, long? generation = null)
    {
        var available = ready ? info.Replicas : 0;
        return new JsonObject
        {
            ["observedGeneration"] = generation ?? 1,
            ["replicas"] = info.Replicas,
            ["updatedReplicas"] = info.Replicas,
            ["readyReplicas"] = available,
            ["availableReplicas"] = available,
            ["unavailableReplicas"] = info.Replicas - available,
            ["conditions"] = new JsonArray(new JsonObject
            {
                ["type"] = "Available",
                ["status"] = ready ? "True" : "False",
                ["reason"] = ready ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable",
                ["message"] = ready ? "Deployment has minimum availability." : "Deployment does not have minimum availability.",
                ["lastUpdateTime"] = JsonTree.Now(),
                ["lastTransitionTime"] = JsonTree.Now(),
            }),
        };
    }

    private void EnsureService(InferenceServiceInfo info)
    {
        if (store.TryGet(registry.Services, info.Namespace, info.PredictorName) is not null) return;
        store.Create(registry.Services, info.Namespace, new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Service",
            ["metadata"] = new JsonObject
            {
                ["name"] = info.PredictorName,
                ["labels"] = Labels(info),
                ["ownerReferences"] = new JsonArray(OwnerReference($"{ResourceRegistry.KServeGroup}/v1beta1", "InferenceService", info.Name, info.Uid)),
            },
            ["spec"] = new JsonObject
            {
                ["selector"] = new JsonObject { ["app"] = $"isvc.{info.PredictorName}" },
                ["ports"] = new JsonArray(new JsonObject { ["name"] = "http", ["port"] = 80, ["protocol"] = "TCP", ["targetPort"] = 8080 }),
            },
        });
    }

    private void EnsurePods(InferenceServiceInfo info, JsonObject deployment, bool ready)
    {
        var hash = Names.StableSuffix($"{info.Uid}/{info.Generation}");
        var selector = LabelSelector.Parse($"{InferenceServiceInfo.IsvcLabel}={info.Name}");
        var pods = store.List(registry.Pods, info.Namespace, selector.Matches).Items;
        var current = new List<JsonObject>();
        foreach (var pod in pods)
        {
            var podName = JsonTree.Str(pod["metadata"]!["name"])!;
            if (JsonTree.Str(pod["metadata"]!["labels"]?["pod-template-hash"]) == hash && current.Count < info.Replicas)
                current.Add(pod);
            else
                DeletePod(info.Namespace, podName);
        }

        var nodes = store.List(registry.Nodes, null, _ => true).Items.Select(n => JsonTree.Str(n["metadata"]!["name"])!).ToList();
        for (var i = current.Count; i < info.Replicas; i++)
            current.Add(CreatePod(info, deployment, hash, nodes.Count == 0 ? "emulator-node-1" : nodes[i % nodes.Count]));

        if (!ready) return;
        foreach (var pod in current)
            store.Update(registry.Pods, info.Namespace, JsonTree.Str(pod["metadata"]!["name"])!, p =>
            {
                p["status"] = PodStatus(p, running: true);
                return p;
            }, WriteScope.All, requireResourceVersion: false);
    }

    private void DeletePod(string ns, string name)
    {
        store.Delete(registry.Pods, ns, name);
        logs.ForgetPod(ns, name);
    }

    private JsonObject CreatePod(InferenceServiceInfo info, JsonObject deployment, string hash, string nodeName)
    {
        var labels = Labels(info);
        labels["pod-template-hash"] = hash;
        var name = $"{info.PredictorName}-{hash}-{Names.RandomSuffix()}";
        var pod = new JsonObject
        {
            ["apiVersion"] = "v1",
            ["kind"] = "Pod",
            ["metadata"] = new JsonObject
            {
                ["name"] = name,
                ["labels"] = labels,
                ["ownerReferences"] = new JsonArray(OwnerReference("apps/v1", "Deployment", info.PredictorName,
                    JsonTree.Str(deployment["metadata"]!["uid"])!)),
            },
            ["spec"] = PodSpec(info, nodeName),
        };
        pod["status"] = PodStatus(pod, running: false);
        var created = store.Create(registry.Pods, info.Namespace, pod, keepStatus: true);
        WriteStartupLogs(info, name);
        return created;
    }

    private static JsonObject PodSpec(InferenceServiceInfo info, string? nodeName)
    {
        var spec = new JsonObject
        {
            ["containers"] = new JsonArray(
                new JsonObject
                {
                    ["name"] = "kserve-container",
                    ["image"] = $"kserve/{info.Framework}server:v0.15.0",
                    ["args"] = new JsonArray($"--model_name={info.Name}", "--model_dir=/mnt/models", "--http_port=8080"),
                    ["ports"] = new JsonArray(new JsonObject { ["containerPort"] = 8080, ["protocol"] = "TCP" }),
                },
                new JsonObject
                {
                    ["name"] = "queue-proxy",
                    ["image"] = "gcr.io/knative-releases/knative.dev/serving/cmd/queue:v1.15.0",
                    ["ports"] = new JsonArray(new JsonObject { ["containerPort"] = 8012, ["protocol"] = "TCP" }),
                }),
            ["restartPolicy"] = "Always",
        };
        if (nodeName is not null) spec["nodeName"] = nodeName;
        return spec;
    }

    private static JsonObject PodStatus(JsonObject pod, bool running)
    {
        var now = JsonTree.Now();
        var nodeName = JsonTree.Str(pod["spec"]?["nodeName"]) ?? "";
        var ordinal = Math.Abs(JsonTree.Str(pod["metadata"]?["name"])!.GetHashCode() % 250) + 2;
        var containers = new JsonArray();
        foreach (var name in new[] { "kserve-container", "queue-proxy" })
        {
            containers.Add(new JsonObject
            {
                ["name"] = name,
                ["ready"] = running,
                ["started"] = running,
                ["restartCount"] = 0,
                ["image"] = pod["spec"]?["containers"]?.AsArray().FirstOrDefault(c => JsonTree.Str(c?["name"]) == name)?["image"]?.DeepClone(),
                ["state"] = running
                    ? new JsonObject { ["running"] = new JsonObject { ["startedAt"] = now } }
                    : new JsonObject { ["waiting"] = new JsonObject { ["reason"] = "ContainerCreating" } },
            });
        }
        string ConditionStatus(bool value) => value ? "True" : "False";
        return new JsonObject
        {
            ["phase"] = running ? "Running" : "Pending",
            ["hostIP"] = nodeName.EndsWith('2') ? "172.18.0.3" : "172.18.0.2",
            ["podIP"] = $"10.244.{(nodeName.EndsWith('2') ? 2 : 1)}.{ordinal}",
            ["startTime"] = now,
            ["conditions"] = new JsonArray(
                new JsonObject { ["type"] = "PodScheduled", ["status"] = "True", ["lastTransitionTime"] = now },
                new JsonObject { ["type"] = "Initialized", ["status"] = "True", ["lastTransitionTime"] = now },
                new JsonObject { ["type"] = "ContainersReady", ["status"] = ConditionStatus(running), ["lastTransitionTime"] = now },
                new JsonObject { ["type"] = "Ready", ["status"] = ConditionStatus(running), ["lastTransitionTime"] = now }),
            ["containerStatuses"] = containers,
        };
    }

    private void WriteStartupLogs(InferenceServiceInfo info, string pod)
    {
        var ns = info.Namespace;
        logs.Append(ns, pod, "kserve-container", $"INFO:root:Copying contents of {info.StorageUri ?? "(none)"} to local");
        logs.Append(ns, pod, "kserve-container", $"INFO:kserve:Registering model: {info.Name}");
        logs.Append(ns, pod, "kserve-container", "INFO:kserve:Setting max asyncio worker threads as 12");
        logs.Append(ns, pod, "kserve-container", "INFO:kserve:Starting uvicorn with 1 workers");
        logs.Append(ns, pod, "kserve-container", "INFO:uvicorn.error:Started server process [1]");
        logs.Append(ns, pod, "kserve-container", "INFO:uvicorn.error:Waiting for application startup.");
        logs.Append(ns, pod, "kserve-container", "INFO:uvicorn.error:Application startup complete.");
        logs.Append(ns, pod, "kserve-container", "INFO:uvicorn.error:Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)");
        logs.Append(ns, pod, "queue-proxy", "{\"severity\":\"INFO\",\"message\":\"Starting queue-proxy\",\"knative.dev/pod\":\"" + pod + "\"}");
        logs.Append(ns, pod, "queue-proxy", "{\"severity\":\"INFO\",\"message\":\"Queue-proxy will listen on :8012\"}");
    }
}
