"""The Batik Cual archive: motifs, owners, images, collections and bilingual pages."""
