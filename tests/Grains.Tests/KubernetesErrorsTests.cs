using System.Net;
using Inference.Grains.Abstractions;
using Inference.Grains.Kubernetes;
using k8s.Autorest;
using Inference.Shared.Kubernetes;

namespace Inference.Grains.Tests;

/// <summary>What the API server says about the service itself (RBAC, faults, where it lives) reaches admins and the
/// log, never a tenant; what it says about the tenant's own object reaches the tenant.</summary>
public sealed class KubernetesErrorsTests
{
    private const string Rbac =
        "inferenceservices.serving.kserve.io is forbidden: User \"system:serviceaccount:inference:box-silo\" cannot create resource \"inferenceservices\" in API group \"serving.kserve.io\" in the namespace \"tenant-x\"";

    private static HttpOperationException ServerSays(HttpStatusCode status, string message) => new($"Operation returned an invalid status code '{status}'")
    {
        Response = new HttpResponseMessageWrapper(new HttpResponseMessage(status),
            $$"""{"kind":"Status","apiVersion":"v1","status":"Failure","message":{{System.Text.Json.JsonSerializer.Serialize(message)}},"code":{{(int)status}}}"""),
    };

    [Fact]
    public async Task A_forbidden_answer_reaches_tenants_as_a_generic_error_and_admins_and_the_log_verbatim()
    {
        var tenant = await Assert.ThrowsAsync<KubernetesCallException>(() =>
            KubernetesErrors.Call<object>(_ => throw ServerSays(HttpStatusCode.Forbidden, Rbac), "Failed to create model", TimeSpan.FromSeconds(5)));
        Assert.Equal(ErrorKind.Upstream, tenant.Error.Kind);
        Assert.DoesNotContain("serviceaccount", tenant.Error.Details);
        Assert.DoesNotContain("forbidden", tenant.Error.Details);
        Assert.Contains(Rbac, tenant.Message);

        var admin = await Assert.ThrowsAsync<KubernetesCallException>(() =>
            KubernetesErrors.Call<object>(_ => throw ServerSays(HttpStatusCode.Forbidden, Rbac), "kubectl command failed", TimeSpan.FromSeconds(5), forAdmins: true));
        Assert.Contains(Rbac, admin.Error.Details);

        var fault = await Assert.ThrowsAsync<KubernetesCallException>(() =>
            KubernetesErrors.Call<object>(_ => throw ServerSays(HttpStatusCode.InternalServerError, "etcdserver: leader changed at 10.0.0.12:2379"), "Failed to update model", TimeSpan.FromSeconds(5)));
        Assert.DoesNotContain("10.0.0.12", fault.Error.Details);

        var unreachable = await Assert.ThrowsAsync<KubernetesCallException>(() =>
            KubernetesErrors.Call<object>(_ => throw new HttpRequestException("Connection refused (10.96.0.1:443)"), "Failed to create model", TimeSpan.FromSeconds(5)));
        Assert.Equal(ErrorKind.Unavailable, unreachable.Error.Kind);
        Assert.DoesNotContain("10.96.0.1", unreachable.Error.Details);
    }

    [Fact]
    public async Task What_the_server_says_about_the_tenants_own_object_reaches_the_tenant()
    {
        var invalid = await Assert.ThrowsAsync<KubernetesCallException>(() =>
            KubernetesErrors.Call<object>(_ => throw ServerSays(HttpStatusCode.UnprocessableEntity, "spec.predictor.minReplicas: Invalid value: -1"), "Failed to create model", TimeSpan.FromSeconds(5)));
        Assert.Equal(ErrorKind.Invalid, invalid.Error.Kind);
        Assert.Contains("spec.predictor.minReplicas", invalid.Error.Details);
    }
}
