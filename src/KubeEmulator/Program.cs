// Kubernetes API emulator (test/demo tool). Example:
//   dotnet run --project src/KubeEmulator -- --urls http://127.0.0.1:8086 --kubeconfig .box/kubeconfig --data .box/k8s.json
using KubeEmulator;

var app = KubeEmulatorApp.Build(args);
await app.RunAsync();
