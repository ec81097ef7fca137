using Inference.ApiHost;
using Inference.ApiHost.Auth;
using Inference.ApiHost.Http;

if (args is ["token", var tenant, ..])
{
    // `box token TENANT [--admin]`: mints a tenant token locally with the same JWT_SECRET the API host uses.
    var configuration = new ConfigurationManager();
    configuration.AddEnvironmentVariables().AddCommandLine(args[2..]);
    configuration.AddContractVariables(configuration);
    var services = new ServiceCollection().AddSingleton<IConfiguration>(configuration);
    services.AddSettings<AuthSettings>(AuthSettings.Section, o => o.Problem(clustered: false));
    AuthSettings settings;
    try
    {
        // A command with no host: this container lives for one read of the settings.
#pragma warning disable ASP0000
        settings = services.BuildServiceProvider().GetRequiredService<Microsoft.Extensions.Options.IOptions<AuthSettings>>().Value;
#pragma warning restore ASP0000
    }
    catch (Microsoft.Extensions.Options.OptionsValidationException e)
    {
        Console.Error.WriteLine($"{e.Message} (needed to mint a token)");
        return 2;
    }
    var admin = args.Contains("--admin");
    var (token, _) = new TokenService(settings, TimeProvider.System).Issue(admin ? "admin" : $"{tenant}-user", admin ? "Administrator" : $"{tenant} user", tenant, admin);
    Console.WriteLine(token);
    return 0;
}

if (args is ["hash-password"])
{
    // `box hash-password`: the ADMIN_PASSWORD_HASH of the password on stdin (one line), so it never sits in argv.
    var password = Console.In.ReadLine();
    if (string.IsNullOrEmpty(password))
    {
        Console.Error.WriteLine("Give the password on stdin, e.g. printf '%s\\n' \"$PASSWORD\" | ./box hash-password");
        return 2;
    }
    Console.WriteLine(PasswordHash.Create(password));
    return 0;
}

ApiHostApp.Build(args).Run();
return 0;
