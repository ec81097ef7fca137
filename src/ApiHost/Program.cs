using Inference.ApiHost;
using Inference.ApiHost.Auth;

if (args is ["token", var tenant, ..])
{
    // `box token TENANT [--admin]`: mints a tenant token locally with the same JWT_SECRET the API host uses.
    var configuration = new ConfigurationBuilder().AddEnvironmentVariables().AddCommandLine(args[2..]).Build();
    var settings = AuthSettings.From(configuration);
    if (System.Text.Encoding.UTF8.GetByteCount(settings.JwtSecret) < AuthSettings.MinSecretBytes)
    {
        Console.Error.WriteLine($"JWT_SECRET must be set (at least {AuthSettings.MinSecretBytes} bytes) to mint a token.");
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
