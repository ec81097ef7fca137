namespace Inference.Grains.Abstractions; public static class Placeholder {}
