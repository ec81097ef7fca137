// ./box scale runs this (see docs/scale.md). Directly:
//   dotnet bench/ScaleMeasure/bin/Release/net10.0/Inference.Bench.ScaleMeasure.dll --storage "CONNECTION STRING" \
//     [--tenants 100] [--models 10] [--keys 10000] [--subscribers 200] [--subscribers-per-tenant 10] [--rounds 30]
//     [--seconds 8] [--connections 16] [--max-minutes 15] [--only models,events,keys]
// Everything on 127.0.0.1: the Kubernetes emulator in this process, the API host under measurement in a child process
// (this program's `serve` mode); the run is bounded by --max-minutes and stops every process it started.
using Inference.Bench.ScaleMeasure;

if (args is ["serve", ..])
{
    return await Serve.RunAsync();
}

Options options;
try
{
    options = Options.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"scale: {e.Message}");
    return 2;
}
AppDomain.CurrentDomain.ProcessExit += (_, _) => Child.KillAll();
Console.CancelKeyPress += (_, e) =>
{
    Child.KillAll();
    e.Cancel = false;
};
var report = new Report();
try
{
    await new Measurements(options, report).RunAsync();
}
catch (Exception e)
{
    report.Check(false, $"the run ended early: {e.GetType().Name}: {e.Message}");
}
finally
{
    Child.KillAll();
}
Console.WriteLine();
Console.WriteLine(report.Failures.Count == 0 ? "scale: every check passed" : $"scale: {report.Failures.Count} check(s) failed");
return report.Failures.Count == 0 ? 0 : 1;
