Console.WriteLine("api");
