"""Maps: folium web maps (inert to template injection), matplotlib print sheets, self-contained offline HTML."""
