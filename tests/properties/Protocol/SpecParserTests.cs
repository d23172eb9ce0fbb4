using DetKafka.Protocol.Generator;
using Xunit;

namespace DetKafka.Properties.Protocol;

/// <summary>The spec format's rules: a mistake in a spec is a build error naming its line, never a codec that
/// silently differs from what the spec says.</summary>
public class SpecParserTests
{
    private const string Valid = """
        # A test API.
        api 90 Test versions 0-3 flexible 2+
        request TestRequest
          const Marker int32 = -7
          Name        string
          Items       []Item  v1+
            Id        int32
            Label     string   nullable v2+
          Extra       int64   v2+ tag 4 = -1   # a tagged field
        response TestResponse
          ErrorCode   int16:ErrorCode
        """;

    [Fact]
    public void A_valid_spec_gives_its_fields_versions_and_tags()
    {
        var api = SpecParser.Parse("90-Test.spec", Valid);
        Assert.Equal(90, api.Key);
        Assert.Equal((0, 3), (api.Versions.Min, api.Versions.Max));
        Assert.Equal(2, api.FirstFlexible);
        Assert.Equal(["A test API."], api.Doc);
        var request = api.Request!;
        Assert.Equal(["Name", "Items", "Extra"], request.Fields.Select(f => f.Name));
        var items = request.Fields[1];
        Assert.True(items.IsArray);
        Assert.Equal("Item", items.TypeName);
        Assert.Equal(1, items.Versions.Min);
        Assert.Equal(2, items.Children[1].NullableVersions.Min);
        Assert.Equal(4, request.Fields[2].Tag);
        Assert.Equal("-1", request.Fields[2].Default);
        Assert.Equal("a tagged field", request.Fields[2].Doc);
        Assert.Equal("Marker", Assert.Single(request.Consts).Name);
        Assert.Equal("ErrorCode", api.Response!.Fields[0].TypeName);
    }

    [Fact]
    public void An_open_ended_field_under_a_bounded_parent_ends_with_it()
    {
        var api = SpecParser.Parse("t.spec", "api 90 Test versions 0-9 flexible none\nrequest A\n  Old []Item v0-7\n    Epoch int32 v5+\nresponse B\n  Y int32\n");
        var epoch = api.Request!.Fields[0].Children[0];
        Assert.Equal((5, 7), ((int)epoch.Versions.Min, (int)epoch.Versions.Max));
        Assert.Throws<SpecError>(() => SpecParser.Parse("t.spec", "api 90 Test versions 0-9 flexible none\nrequest A\n  Old []Item v0-7\n    Epoch int32 v5-9\nresponse B\n  Y int32\n"));
    }

    [Theory]
    [InlineData("  Extra int64 v1+ tag 0", 4, "tagged field exists only in flexible versions")]
    [InlineData("  Bad  float32", 4, "unknown type")]
    [InlineData("   Odd int32", 4, "multiple of two")]
    [InlineData("      TooDeep int32", 4, "more than one level")]
    [InlineData("  Name string", 4, "declared twice")]
    [InlineData("  Count int32? v1+", 4, "only strings, bytes, records, structs and arrays can be nullable")]
    [InlineData("  Reset int32", 4, "generated member")]
    [InlineData("  List []Elem v1+\n    Inner int32 v0", 5, "cannot exist in versions its parent does not")]
    [InlineData("  Late int32 v9+", 4, "exists in no version")]
    [InlineData("  Empty []Nothing", 4, "has no fields")]
    public void A_mistake_is_an_error_at_its_line(string extraLine, int line, string message)
    {
        string spec = "api 90 Test versions 0-3 flexible 2+\nrequest TestRequest\n  Name string\n" + extraLine + "\nresponse TestResponse\n  X int32\n";
        var e = Assert.Throws<SpecError>(() => SpecParser.Parse("t.spec", spec));
        Assert.Contains(message, e.Message);
        if (e.Line != 0) Assert.Equal(line, e.Line);
    }

    [Theory]
    [InlineData("api 90 Test versions 0-3\nrequest A\n  X int32\nresponse B\n  Y int32\n", "flexible")]
    [InlineData("request A\n  X int32\n", "'api' line comes first")]
    [InlineData("api 90 Test versions 0-3 flexible 2+\nrequest A\n  X int32\n", "one request and one response")]
    [InlineData("api 90 Test versions 3-1 flexible none\nrequest A\n  X int32\nresponse B\n  Y int32\n", "empty version range")]
    public void A_malformed_file_is_refused(string spec, string message)
    {
        var e = Assert.Throws<SpecError>(() => SpecParser.Parse("t.spec", spec));
        Assert.Contains(message, e.Message);
    }
}
