#include <gtest/gtest.h>

#include "lesion/cli/Command.h"

using namespace lesion::cli;

namespace {
Command sample() {
  Command c;
  c.name = "segment";
  c.title = "LesionKit Segment";
  c.summary = "segment a lesion";
  c.description = "Segments a lesion from a seed & writes a <mask>.";
  c.examples = {"lesionkit segment ct.nrrd --seed 1,2,3 -o mask.nrrd"};
  c.add({"volume", ParameterType::Image, "Input volume", "CT or MR volume", Channel::Input, 0}).asRequired();
  c.add({"seed", ParameterType::Point, "Seeds", "points inside the lesion", Channel::None}).asMultiple();
  c.add({"kind", ParameterType::StringEnumeration, "Kind", "lesion kind", Channel::None})
      .withChoices({"soft-tissue", "lytic"})
      .withDefault("soft-tissue");
  c.add({"outputMask", ParameterType::LabelImage, "Mask", "result mask", Channel::Output})
      .withFlag('o')
      .inGroup("Outputs");
  c.add({"volumeMl", ParameterType::Float, "Volume (mL)", "lesion volume", Channel::Output}).inGroup("Outputs");
  c.add({"maxDiameterMm", ParameterType::Float, "Largest diameter", "in mm", Channel::Input})
      .withDefault("100")
      .withRange(5, 500, 5);
  return c;
}
} // namespace

TEST(Describe, HelpShowsUsageParametersExampleAndExitCodes) {
  ToolInfo tool;
  tool.version = "9.9";
  const std::string help = formatHelp(tool, sample());
  EXPECT_NE(help.find("Usage: lesionkit segment VOLUME [options]"), std::string::npos);
  EXPECT_NE(help.find("--seed X,Y,Z"), std::string::npos);
  EXPECT_NE(help.find("One of soft-tissue|lytic. Default: soft-tissue."), std::string::npos);
  EXPECT_NE(help.find("-o, --output-mask LABELS"), std::string::npos);
  EXPECT_NE(help.find("Example:\n  lesionkit segment ct.nrrd"), std::string::npos);
  EXPECT_NE(help.find("Exit codes: 0 ok"), std::string::npos);
  EXPECT_NE(help.find("volumeMl"), std::string::npos); // listed under results
  EXPECT_NE(help.find("in mm. From 5 to 500. Default: 100."), std::string::npos) << help;
  EXPECT_EQ(help.find("\n            4 "), std::string::npos) << "segment never exits 4: " << help;
}

// Exit code 4 is listed by the commands that can set CommandContext::someItemsFailed (batch), and only there.
TEST(Describe, HelpListsExitCode4ForACommandThatCanLeaveItemsWithoutResult) {
  Command batch = sample();
  batch.canLeaveItemsWithoutResult = true;
  const std::string help = formatHelp(ToolInfo{}, batch);
  EXPECT_NE(help.find("3 processing failure (no trustworthy result; no output written),\n            4 finished, but "
                      "some items failed or have no result"),
            std::string::npos)
      << help;
}

TEST(Describe, XmlCarriesTheRangeAsSlicerConstraints) {
  const std::string xml = formatXml(ToolInfo{}, sample());
  EXPECT_NE(xml.find("<default>100</default>\n      <constraints>\n        <minimum>5</minimum>\n        "
                     "<maximum>500</maximum>\n        <step>5</step>\n      </constraints>"),
            std::string::npos)
      << xml;
}

TEST(Describe, HelpSaysMayBeRepeatedOnceEvenWhenTheDescriptionSaysSo) {
  Command c = sample();
  c.add({"previous", ParameterType::File, "Earlier", "an earlier report (repeatable, oldest first)", Channel::Input})
      .asMultiple();
  const std::string help = formatHelp(ToolInfo{}, c);
  EXPECT_NE(help.find("points inside the lesion. May be repeated."), std::string::npos);
  EXPECT_NE(help.find("(repeatable, oldest first)."), std::string::npos);
  EXPECT_EQ(help.find("oldest first). May be repeated."), std::string::npos);
  // Exactly one "May be repeated." (the seed's): the other description says it in its own words.
  const auto first = help.find("May be repeated.");
  ASSERT_NE(first, std::string::npos);
  EXPECT_EQ(help.find("May be repeated.", first + 1), std::string::npos);
}

TEST(Describe, XmlCarriesSlicerElementsFromTheSameTable) {
  ToolInfo tool;
  tool.version = "9.9";
  const std::string xml = formatXml(tool, sample());
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<executable>", 0), 0u);
  EXPECT_NE(xml.find("<category>Quantification.LesionKit</category>"), std::string::npos);
  EXPECT_NE(xml.find("<image type=\"scalar\">\n      <name>volume</name>\n      <index>0</index>"), std::string::npos);
  EXPECT_NE(xml.find("<point multiple=\"true\" coordinateSystem=\"lps\">"), std::string::npos);
  EXPECT_NE(xml.find("<longflag>--seed</longflag>"), std::string::npos);
  EXPECT_NE(xml.find("<image type=\"label\">"), std::string::npos);
  EXPECT_NE(xml.find("<flag>-o</flag>"), std::string::npos);
  EXPECT_NE(xml.find("<element>lytic</element>"), std::string::npos);
  EXPECT_NE(xml.find("<default>soft-tissue</default>"), std::string::npos);
  // The description is CDATA, so '&' and '<' stay as written.
  EXPECT_NE(xml.find("<![CDATA[Segments a lesion from a seed & writes a <mask>.]]>"), std::string::npos);
  // A scalar result has a channel but no flag.
  const auto result = xml.find("<name>volumeMl</name>");
  ASSERT_NE(result, std::string::npos);
  EXPECT_EQ(xml.substr(result, 200).find("longflag"), std::string::npos);
  EXPECT_NE(xml.substr(result, 200).find("<channel>output</channel>"), std::string::npos);
  EXPECT_NE(xml.find("<label>Outputs</label>"), std::string::npos);
}

TEST(Describe, HiddenParametersAreInTheXmlButNotShownBySlicer) {
  Command c = sample();
  c.add({"ras", ParameterType::Boolean, "RAS", "points are RAS", Channel::Input}).asHidden();
  const std::string xml = formatXml(ToolInfo{}, c);
  EXPECT_NE(xml.find("<boolean hidden=\"true\">\n      <name>ras</name>"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("<point multiple=\"true\" hidden"), std::string::npos);
}
