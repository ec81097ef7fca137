using System.Globalization;
using System.Text.Json.Nodes;
using KubeEmulator.Controller;
using KubeEmulator.Json;
using KubeEmulator.Resources;
using KubeEmulator.Selectors;
using KubeEmulator.Store;

namespace KubeEmulator.Serving;

/// <summary>
/// Serves the models of Ready InferenceServices at <c>{emulator}/serving/{namespace}/{name}</c> (their status.url):
/// the KServe v1 protocol and OpenAI-style chat completions. Two annotations inject faults for tests:
/// <see cref="StatusAnnotation"/> (answer that HTTP status) and <see cref="DelayAnnotation"/> (delay in ms).
/// </summary>
internal sealed class ModelServer(ResourceStore store, ResourceRegistry registry, PodLogs logs)
{
    public const string StatusAnnotation = "emulator.inference-in-a-box.io/predict-status";
    public const string DelayAnnotation = "emulator.inference-in-a-box.io/predict-delay-ms";

    public void Map(WebApplication app)
    {
        app.MapGet("/serving/{ns}/{name}", (string ns, string name) =>
            Find(ns, name) is null ? Error(404, $"InferenceService {ns}/{name} not found") : Results.Json(new { status = "alive" }));
        app.Map("/serving/{ns}/{name}/{**rest}", HandleAsync);
    }

    private async Task<IResult> HandleAsync(HttpContext ctx, string ns, string name, string rest)
    {
        var isvc = Find(ns, name);
        if (isvc is null) return Error(404, $"InferenceService {ns}/{name} not found");
        var info = InferenceServiceInfo.From(isvc);
        var post = HttpMethods.IsPost(ctx.Request.Method);

        switch (rest)
        {
            case "v1/models" when !post:
                return Results.Json(new { models = new[] { name } });
            case var r when r.StartsWith("v1/models/", StringComparison.Ordinal) && !post:
                var model = r["v1/models/".Length..];
                if (model != name) return Error(404, $"Model with name {model} does not exist.");
                return InferenceServiceInfo.IsReady(isvc)
                    ? Results.Json(new { name = model, ready = true })
                    : Results.Json(new { name = model, ready = false }, statusCode: 503);
            case var r when r.StartsWith("v1/models/", StringComparison.Ordinal) && r.EndsWith(":predict", StringComparison.Ordinal) && post:
                var target = r["v1/models/".Length..^":predict".Length];
                if (target != name) return Error(404, $"Model with name {target} does not exist.");
                return await InferAsync(ctx, isvc, info, body => Predict(info, body));
            case "v1/chat/completions" or "openai/v1/chat/completions" when post:
                return await InferAsync(ctx, isvc, info, body => ChatCompletion(info, body));
            default:
                return Error(404, "Not Found");
        }
    }

    private JsonObject? Find(string ns, string name) => store.TryGet(registry.InferenceServices, ns, name);

    private async Task<IResult> InferAsync(HttpContext ctx, JsonObject isvc, InferenceServiceInfo info, Func<JsonObject, IResult> answer)
    {
        var annotations = isvc["metadata"]?["annotations"] as JsonObject;
        if (int.TryParse(JsonTree.Str(annotations?[DelayAnnotation]), NumberStyles.None, CultureInfo.InvariantCulture, out var delay) && delay > 0)
            await Task.Delay(delay, ctx.RequestAborted);
        if (int.TryParse(JsonTree.Str(annotations?[StatusAnnotation]), NumberStyles.None, CultureInfo.InvariantCulture, out var status) && status is >= 200 and < 600)
            return Error(status, $"injected by annotation {StatusAnnotation}");
        if (!InferenceServiceInfo.IsReady(isvc)) return Error(503, $"Model with name {info.Name} is not ready.");

        JsonObject body;
        try
        {
            using var reader = new StreamReader(ctx.Request.Body);
            body = JsonTree.ParseMaterialized(await reader.ReadToEndAsync(ctx.RequestAborted)) as JsonObject
                ?? throw new System.Text.Json.JsonException("body is not an object");
        }
        catch (System.Text.Json.JsonException e)
        {
            return Error(400, $"Unrecognized request format: {e.Message}");
        }
        var result = answer(body);
        LogRequest(info, ctx.Request.Path);
        return result;
    }

    private static IResult Predict(InferenceServiceInfo info, JsonObject body)
    {
        if (body["instances"] is not JsonArray instances) return Error(400, "Expected \"instances\" to be a list");
        var predictions = new JsonArray(instances.Select(i => Predictions.Predict(info.Framework, i)).ToArray());
        return Json(new JsonObject { ["predictions"] = predictions });
    }

    private static IResult ChatCompletion(InferenceServiceInfo info, JsonObject body)
    {
        if (body["messages"] is not JsonArray { Count: > 0 } messages) return Error(400, "'messages' is a required property");
        var prompt = messages.LastOrDefault(m => JsonTree.Str(m?["role"]) == "user")?["content"] is { } c ? JsonTree.Str(c) ?? c.ToJsonString() : "";
        var model = JsonTree.Str(body["model"]) ?? info.Name;
        var reply = Predictions.ChatReply(model, prompt);
        var promptTokens = messages.Sum(m => Predictions.CountTokens(JsonTree.Str(m?["content"]) ?? ""));
        var completionTokens = Predictions.CountTokens(reply);
        return Json(new JsonObject
        {
            ["id"] = "chatcmpl-" + Predictions.Id(model + "\n" + body.ToJsonString()),
            ["object"] = "chat.completion",
            ["created"] = DateTimeOffset.UtcNow.ToUnixTimeSeconds(),
            ["model"] = model,
            ["choices"] = new JsonArray(new JsonObject
            {
                ["index"] = 0,
                ["message"] = new JsonObject { ["role"] = "assistant", ["content"] = reply },
                ["finish_reason"] = "stop",
            }),
            ["usage"] = new JsonObject
            {
                ["prompt_tokens"] = promptTokens,
                ["completion_tokens"] = completionTokens,
                ["total_tokens"] = promptTokens + completionTokens,
            },
        });
    }

    /// <summary>Each request shows up in the log of one predictor pod, as the model server's access log would.</summary>
    private void LogRequest(InferenceServiceInfo info, string path)
    {
        var pods = store.List(registry.Pods, info.Namespace, LabelSelector.Parse($"{InferenceServiceInfo.IsvcLabel}={info.Name}").Matches).Items;
        if (pods.Count == 0) return;
        var pod = JsonTree.Str(pods[Random.Shared.Next(pods.Count)]["metadata"]!["name"])!;
        logs.Append(info.Namespace, pod, "kserve-container", $"INFO:uvicorn.access:127.0.0.1 - \"POST {path} HTTP/1.1\" 200 OK");
    }

    private static IResult Json(JsonObject body) => Results.Content(body.ToJsonString(), "application/json");

    private static IResult Error(int status, string message) =>
        Results.Content(new JsonObject { ["error"] = message }.ToJsonString(), "application/json", statusCode: status);
}
