namespace Inference.Grains.Abstractions;

/// <summary>One page of a list in (tenant, name) order. <see cref="More"/> says that items may follow the last
/// one: the next page starts after it. Immutable: the grain builds the list for this answer and never touches it
/// again, so Orleans passes it on without copying every item.</summary>
[GenerateSerializer, Immutable, Alias("inference.ListPage`1")]
public sealed record ListPage<T>([property: Id(0)] IReadOnlyList<T> Items, [property: Id(1)] bool More);

/// <summary>Where a list across tenants resumes: after <see cref="Name"/> in <see cref="Tenant"/>.</summary>
[GenerateSerializer, Immutable, Alias("inference.ListPosition")]
public sealed record ListPosition([property: Id(0)] string Tenant, [property: Id(1)] string Name);
