namespace DetKafka.Host.Runtime;

/// <summary>The data directory is in use by another broker (its lock file is held).</summary>
public sealed class DataDirectoryInUseException(string message) : IOException(message);

/// <summary>
/// <c>&lt;data-dir&gt;/.lock</c>, as Kafka's log directories have: held open with an exclusive OS lock (on Linux .NET
/// takes flock(LOCK_EX) for FileShare.None) for as long as the broker runs. The kernel drops the lock when the
/// process dies, so a kill -9 never leaves the directory locked; the file itself may stay and means nothing.
/// </summary>
public sealed class DataDirectoryLock : IDisposable
{
    public const string FileName = ".lock";

    private readonly FileStream _stream;

    private DataDirectoryLock(FileStream stream) => _stream = stream;

    public static DataDirectoryLock Acquire(string dataDirectory)
    {
        var root = Path.GetFullPath(dataDirectory);
        Directory.CreateDirectory(root);
        var path = Path.Combine(root, FileName);
        FileStream stream;
        try
        {
            stream = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException and not PathTooLongException)
        {
            throw new DataDirectoryInUseException($"data directory {root} is in use by another broker: {path} is locked");
        }
        stream.SetLength(0);
        var bytes = System.Text.Encoding.ASCII.GetBytes(Environment.ProcessId + "\n");
        stream.Write(bytes);
        stream.Flush();
        return new DataDirectoryLock(stream);
    }

    public void Dispose() => _stream.Dispose();
}
