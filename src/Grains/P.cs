namespace Inference.Grains; public static class Placeholder2 {}
