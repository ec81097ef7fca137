using Inference.Grains.Abstractions.Publishing;
using Inference.Shared.Publishing;

namespace Inference.ApiHost.Publishing;

/// <summary>The documentation block of a publication: how to call it through the gateway, for one rendering of
/// the key (masked everywhere but in the publish and rotate answers).</summary>
public static class PublishDocs
{
    public static PublishDocumentation Build(string model, PublishConfig c, string key)
    {
        var endpoint = PublishUrls.ExternalUrl(c);
        string url, body, python, javascript, curl, description;
        if (c.ModelType == ModelTypes.OpenAi)
        {
            url = $"{endpoint}/v1/chat/completions";
            body = $$"""{"model": "{{model}}", "messages": [{"role": "user", "content": "Hello"}]}""";
            description = "Chat completion (OpenAI-compatible)";
            python = $"import requests\n\nresponse = requests.post(\n    '{url}',\n    headers={{'X-API-Key': '{key}'}},\n    json={{'model': '{model}', 'messages': [{{'role': 'user', 'content': 'Hello'}}]}}\n)\nprint(response.json())";
            javascript = $"const response = await fetch('{url}', {{\n  method: 'POST',\n  headers: {{\n    'Content-Type': 'application/json',\n    'X-API-Key': '{key}'\n  }},\n  body: JSON.stringify({{model: '{model}', messages: [{{role: 'user', content: 'Hello'}}]}})\n}});\nconsole.log(await response.json());";
        }
        else
        {
            url = $"{endpoint}/v1/models/{model}:predict";
            body = """{"instances": [[6.8, 2.8, 4.8, 1.4]]}""";
            description = "Make a prediction request (KServe v1 protocol)";
            python = $"import requests\n\nresponse = requests.post(\n    '{url}',\n    headers={{'X-API-Key': '{key}'}},\n    json={{'instances': [[6.8, 2.8, 4.8, 1.4]]}}\n)\nprint(response.json())";
            javascript = $"const response = await fetch('{url}', {{\n  method: 'POST',\n  headers: {{\n    'Content-Type': 'application/json',\n    'X-API-Key': '{key}'\n  }},\n  body: JSON.stringify({{instances: [[6.8, 2.8, 4.8, 1.4]]}})\n}});\nconsole.log(await response.json());";
        }
        curl = $"curl -X POST '{url}' \\\n  -H 'Content-Type: application/json' \\\n  -H 'X-API-Key: {key}' \\\n  -d '{body}'";
        var auth = new Dictionary<string, string> { ["X-API-Key"] = key };
        var headers = new Dictionary<string, string> { ["Content-Type"] = "application/json", ["X-API-Key"] = key };
        return new PublishDocumentation(endpoint, auth,
            [new ExampleRequest("POST", url, headers, body, description)],
            new Dictionary<string, string> { ["python"] = python, ["javascript"] = javascript, ["curl"] = curl });
    }
}

public sealed record ExampleRequest(string Method, string Url, IReadOnlyDictionary<string, string> Headers, string Body, string Description);

/// <summary>How to call the published model; built for one key rendering (masked, or full once).</summary>
public sealed record PublishDocumentation(
    string EndpointUrl,
    IReadOnlyDictionary<string, string> AuthHeaders,
    IReadOnlyList<ExampleRequest> ExampleRequests,
    IReadOnlyDictionary<string, string> SdkExamples);
