using System.Text.Json.Nodes;
using KubeEmulator.Json;
using KubeEmulator.Resources;

namespace KubeEmulator.Store;

/// <summary>Server-side defaults for built-in kinds that clients commonly read back (phase, clusterIP, replicas, a secret's type).</summary>
internal static class BuiltInDefaults
{
    public static void ApplyOnCreate(ResourceType type, JsonObject obj, long serial)
    {
        if (type.IsCustom) return;
        switch (type.Kind)
        {
            case "Namespace":
                JsonTree.Obj(obj, "spec")["finalizers"] ??= new JsonArray("kubernetes");
                JsonTree.Obj(obj, "status")["phase"] ??= "Active";
                JsonTree.Obj(JsonTree.Obj(obj, "metadata"), "labels")["kubernetes.io/metadata.name"] = obj["metadata"]!["name"]!.DeepClone();
                break;
            case "Pod":
                JsonTree.Obj(obj, "status")["phase"] ??= "Pending";
                JsonTree.Obj(obj, "spec")["restartPolicy"] ??= "Always";
                break;
            case "Service":
                var spec = JsonTree.Obj(obj, "spec");
                spec["type"] ??= "ClusterIP";
                // Allocate from 10.96.0.0/12 like a default cluster; the serial keeps addresses unique.
                spec["clusterIP"] ??= $"10.96.{(serial / 250) % 250}.{serial % 250 + 1}";
                break;
            case "Secret":
                obj["type"] ??= "Opaque";
                break;
            case "Deployment":
                var deployment = JsonTree.Obj(obj, "spec");
                deployment["replicas"] ??= 1;
                deployment["revisionHistoryLimit"] ??= 10;
                deployment["progressDeadlineSeconds"] ??= 600;
                var strategy = JsonTree.Obj(deployment, "strategy");
                strategy["type"] ??= "RollingUpdate";
                if (JsonTree.Str(strategy["type"]) == "RollingUpdate")
                {
                    var rolling = JsonTree.Obj(strategy, "rollingUpdate");
                    rolling["maxUnavailable"] ??= "25%";
                    rolling["maxSurge"] ??= "25%";
                }
                break;
        }
    }
}
