namespace DetKafka.Chaos;

/// <summary>Locates the repository and the built broker from wherever the test assembly runs.</summary>
public static class RepoPaths
{
    /// <summary>The first directory, walking up from the test binaries, that holds the solution file.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The broker built by `dotnet build DetKafka.sln -c Release`; the tests run the real binary.</summary>
    public static string BrokerDll
    {
        get
        {
            string path = Path.Combine(Root, "src", "Host", "bin", "Release", "net10.0", "detkafka.dll");
            if (!File.Exists(path))
                throw new FileNotFoundException(
                    $"The broker is not built: {path} is missing. Run `dotnet build DetKafka.sln -c Release` (./test.sh does).",
                    path);
            return path;
        }
    }

    /// <summary>Client scripts are copied next to the test assembly (see the csproj).</summary>
    public static string ClientScript(string name)
    {
        string path = Path.Combine(AppContext.BaseDirectory, "clients", name);
        if (!File.Exists(path)) throw new FileNotFoundException($"client script missing: {path}", path);
        return path;
    }

    /// <summary>Where broker logs are kept after a run, so a failure can be diagnosed from the files.</summary>
    public static string BrokerLogDir
    {
        get
        {
            string dir = Path.Combine(AppContext.BaseDirectory, "broker-logs");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "DetKafka.sln")) ||
                File.Exists(Path.Combine(dir.FullName, "DetKafka.slnx")))
                return dir.FullName;
        }
        throw new DirectoryNotFoundException(
            $"No DetKafka.sln(x) above {AppContext.BaseDirectory}: the chaos tests must run from inside the repository.");
    }
}
