"""`mme5 quickstart`: the whole pipeline offline on real multilingual data (emoji + CLDR names)."""
